# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt
import logging
import re
from collections import defaultdict
from email.message import EmailMessage

import trytond.config as config
from sql import Null
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, Workflow, fields
from trytond.modules.company.model import employee_field, set_employee
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval, If
from trytond.sendmail import send_message_transactional
from trytond.transaction import (
    Transaction,
    check_access,
    without_check_access,
)

from trytond.modules.crm_lifecycle.common import (
    SafeValuesMixin,
    WorkflowFieldsMixin,
    check_state_fields,
    client_call,
    lock,
    touch,
    transition,
    workflow_writes,
)
from trytond.modules.crm_lifecycle.ir import enqueue

from .exceptions import (
    ComplaintError,
    InboundEmailError,
    InvoicingError,
    TicketAccessError,
    TicketError,
    TicketValidationError,
)
from .inbound_email import (  # noqa: F401 html_to_text is public here
    UnreadableMessage,
    attachment_max_size,
    html_to_text,
    parse_dict,
    strip_quoted,
)
from .sla import PRIORITIES

logger = logging.getLogger(__name__)

CHANNELS = [
    ('phone', "Phone"),
    ('email', "E-mail"),
    ('portal', "Portal"),
    ('on_site', "On Site"),
    ('letter', "Letter"),
    ]
KINDS = [
    ('question', "Question"),
    ('fault', "Fault"),
    ('complaint', "Complaint"),
    ('change_request', "Change Request"),
    ('maintenance', "Maintenance"),
    ]
SLA_STATES = [
    (None, ""),
    ('on_track', "On Track"),
    ('at_risk', "At Risk"),
    ('breached', "Breached"),
    ]
ESCALATION_LEVELS = [None, 'at_risk', 'breached']
NUMBER_IN_SUBJECT = re.compile(r'\[([^\[\]]+)\]')


class Ticket(
        WorkflowFieldsMixin, SafeValuesMixin, Workflow, ModelSQL,
        ModelView):
    __name__ = 'service.ticket'
    _rec_name = 'number'

    _states = {
        'readonly': Eval('state').in_(['closed', 'cancelled']),
        }

    number = fields.Char("Number", readonly=True)
    company = fields.Many2One(
        'company.company', "Company", required=True,
        states={
            'readonly': Eval('state') != 'new',
            })
    party = fields.Many2One(
        'party.party', "Customer", ondelete='RESTRICT', states=_states,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'},
        help="Empty for e-mails from unknown senders.")
    contact = fields.Many2One(
        'party.contact_mechanism', "Contact",
        domain=[
            ('party', '=', Eval('party', -1)),
            ],
        states=_states,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    email_from = fields.Char(
        "E-mail From", states=_states,
        help="The sender address of the e-mail the ticket comes from.")
    message_id = fields.Char("Message-ID", readonly=True)
    channel = fields.Selection(
        CHANNELS, "Channel", required=True, sort=False, states=_states)
    kind = fields.Selection(
        KINDS, "Kind", required=True, sort=False, states=_states)
    priority = fields.Selection(
        PRIORITIES, "Priority", required=True, sort=False, states=_states)
    title = fields.Char("Title", required=True, states=_states)
    description = fields.Text("Description", states=_states)
    origin = fields.Reference(
        "Origin", selection='get_origins', states=_states,
        domain={
            'sale.sale': [
                ('company', '=', Eval('company', -1)),
                If(Bool(Eval('party')),
                    ('party', '=', Eval('party', -1)), ()),
                ],
            'sale.line': [
                ('sale.company', '=', Eval('company', -1)),
                ],
            'account.invoice': [
                ('company', '=', Eval('company', -1)),
                ('type', '=', 'out'),
                ],
            'account.invoice.line': [
                ('invoice.company', '=', Eval('company', -1)),
                ],
            },
        help="The sale or invoice the ticket is about.")
    product = fields.Many2One(
        'product.product', "Product", states=_states,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    team = fields.Many2One(
        'service.team', "Team", states=_states,
        domain=[
            ('company', '=', Eval('company', -1)),
            ])
    assignee = fields.Many2One(
        'company.employee', "Assignee", states=_states,
        domain=[
            ('company', '=', Eval('company', -1)),
            ])
    reported_date = fields.DateTime(
        "Reported On", required=True,
        states={
            'readonly': Eval('state') != 'new',
            },
        help="When the customer reported the issue; the SLA clock starts.")

    sla = fields.Many2One(
        'service.sla', "SLA", ondelete='RESTRICT',
        domain=[
            ('company', '=', Eval('company', -1)),
            ],
        states={
            'readonly': Eval('state') != 'new',
            },
        help="By default the customer's SLA or the configured one.")
    response_deadline = fields.DateTime("Response Deadline", readonly=True)
    resolution_deadline = fields.DateTime(
        "Resolution Deadline", readonly=True)
    response_risk_date = fields.DateTime("Response At Risk", readonly=True)
    resolution_risk_date = fields.DateTime(
        "Resolution At Risk", readonly=True)
    first_response_date = fields.DateTime("First Response", readonly=True)
    paused_duration = fields.TimeDelta(
        "Paused", readonly=True,
        help="The business time spent waiting or resolved.")
    response_paused_duration = fields.TimeDelta(
        "Paused Before Response", readonly=True,
        help="The business time spent waiting before the first response.")
    paused_since = fields.DateTime("Paused Since", readonly=True)
    sla_state = fields.Selection(
        SLA_STATES, "SLA State", readonly=True, sort=False)
    escalation = fields.Selection([
            (None, ""),
            ('at_risk', "At Risk"),
            ('breached', "Breached"),
            ], "Escalation", readonly=True, sort=False,
        help="The highest level escalated to the team lead.")

    activities = fields.One2Many(
        'crm.activity', 'resource', "Activities",
        domain=[
            ('company', '=', Eval('company', -1)),
            ],
        context={
            'default_party': Eval('party', -1),
            },
        states=_states)
    complaint = fields.Many2One(
        'sale.complaint', "Complaint", readonly=True, ondelete='SET NULL')
    complaint_state = fields.Function(fields.Selection(
            'get_complaint_states', "Complaint State"),
        'get_complaint_state')
    complaint_cause = fields.Function(fields.Many2One(
            'sale.complaint.cause', "Complaint Cause",
            states={
                'readonly': (~Eval('complaint')
                    | (Eval('complaint_state') == 'cancelled')),
                'invisible': ~Eval('complaint'),
                }),
        'get_complaint_cost', setter='set_complaint_cost')
    complaint_internal_cost = fields.Function(Monetary(
            "Complaint Internal Cost", currency='complaint_currency',
            digits='complaint_currency',
            states={
                'readonly': (~Eval('complaint')
                    | (Eval('complaint_state') == 'cancelled')),
                'invisible': ~Eval('complaint'),
                },
            help="What handling the complaint costs the company."),
        'get_complaint_cost', setter='set_complaint_cost')
    complaint_credit = fields.Function(Monetary(
            "Complaint Credit", currency='complaint_currency',
            digits='complaint_currency',
            states={
                'invisible': ~Eval('complaint'),
                }),
        'get_complaint_cost')
    complaint_currency = fields.Function(fields.Many2One(
            'currency.currency', "Complaint Currency"),
        'get_complaint_cost')
    opportunity = fields.Many2One(
        'sale.opportunity', "Opportunity", readonly=True,
        ondelete='SET NULL')
    work = fields.Many2One(
        'timesheet.work', "Work", readonly=True, ondelete='RESTRICT',
        help="The timesheet work where the time of the ticket is logged.")
    billable = fields.Boolean(
        "Billable", states=_states,
        help="Whether the logged time is invoiced to the customer.")
    timesheet_lines = fields.Function(fields.Many2Many(
            'timesheet.line', None, None, "Timesheet Lines"),
        'get_timesheet_lines')
    timesheet_duration = fields.Function(fields.TimeDelta(
            "Logged Time", 'company_work_time'), 'get_timesheet_duration')

    opened_by = employee_field("Opened By", ['closed', 'cancelled'])
    opened_date = fields.DateTime("Opened On", readonly=True)
    waiting_by = employee_field("Waiting By", ['closed', 'cancelled'])
    waiting_date = fields.DateTime("Waiting Since", readonly=True)
    resolved_by = employee_field("Resolved By", ['closed', 'cancelled'])
    resolved_date = fields.DateTime("Resolved On", readonly=True)
    closed_by = employee_field("Closed By", ['closed', 'cancelled'])
    closed_date = fields.DateTime("Closed On", readonly=True)
    cancelled_by = employee_field("Cancelled By", ['closed', 'cancelled'])
    cancelled_date = fields.DateTime("Cancelled On", readonly=True)
    state = fields.Selection([
            ('new', "New"),
            ('open', "Open"),
            ('waiting', "Waiting"),
            ('resolved', "Resolved"),
            ('closed', "Closed"),
            ('cancelled', "Cancelled"),
            ], "State", required=True, readonly=True, sort=False)

    del _states

    @classmethod
    def __setup__(cls):
        cls.number.search_unaccented = False
        super().__setup__()
        t = cls.__table__()
        running = t.state.in_(cls._sla_running_states())
        cls._sql_indexes.update({
                Index(t, (t.number, Index.Similarity())),
                Index(t, (t.message_id, Index.Equality())),
                Index(t,
                    (t.party, Index.Range()),
                    (t.reported_date, Index.Range(order='DESC'))),
                Index(t,
                    (t.state, Index.Equality(cardinality='low')),
                    where=t.state.in_(cls._open_states())),
                Index(t, (t.response_risk_date, Index.Range()),
                    where=running & (t.first_response_date == Null)),
                Index(t, (t.resolution_risk_date, Index.Range()),
                    where=running),
                Index(t, (t.response_deadline, Index.Range())),
                Index(t, (t.resolution_deadline, Index.Range())),
                Index(t, (t.sla_state, Index.Equality(cardinality='low')),
                    (t.reported_date, Index.Range())),
                # The first page of the at-risk and breached queues: in the
                # order of the list, among the open tickets
                Index(t, (t.sla_state, Index.Equality(cardinality='low')),
                    (t.reported_date, Index.Range(order='DESC')),
                    (t.id, Index.Range(order='DESC')),
                    where=t.state.in_(cls._open_states())),
                })
        cls._sql_constraints += [
            ('number_unique', Unique(t, t.company, t.number),
                'crm_service.msg_ticket_number_unique'),
            # a redelivered e-mail must not make a second ticket
            ('message_id_unique', Unique(t, t.company, t.message_id),
                'crm_service.msg_ticket_message_id_unique'),
            ]
        cls._order = [('reported_date', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('new', 'open'),
            ('new', 'cancelled'),
            ('open', 'waiting'),
            ('open', 'resolved'),
            ('open', 'cancelled'),
            ('waiting', 'open'),
            ('waiting', 'resolved'),
            ('waiting', 'cancelled'),
            ('resolved', 'open'),
            ('resolved', 'closed'),
            ('cancelled', 'new'),
            }
        cls._buttons.update({
                'open': {
                    'invisible': ~Eval('state').in_(
                        ['new', 'waiting', 'resolved']),
                    'icon': If(Eval('state') == 'new',
                        'tryton-forward', 'tryton-back'),
                    'depends': ['state'],
                    },
                'respond': {
                    'invisible': (~Eval('state').in_(['new', 'open'])
                        | Bool(Eval('first_response_date'))),
                    'icon': 'tryton-email',
                    'depends': ['state', 'first_response_date'],
                    },
                'wait': {
                    'invisible': Eval('state') != 'open',
                    'icon': 'tryton-forward',
                    'depends': ['state'],
                    },
                'resolve': {
                    'invisible': ~Eval('state').in_(['open', 'waiting']),
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                'close': {
                    # visible while open so the user learns why it is refused
                    'invisible': ~Eval('state').in_(
                        ['open', 'waiting', 'resolved']),
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                'cancel': {
                    'invisible': ~Eval('state').in_(
                        ['new', 'open', 'waiting']),
                    'icon': 'tryton-cancel',
                    'depends': ['state'],
                    },
                'draft': {
                    'invisible': Eval('state') != 'cancelled',
                    'icon': 'tryton-undo',
                    'depends': ['state'],
                    },
                'create_complaint': {
                    'invisible': ((Eval('kind') != 'complaint')
                        | Bool(Eval('complaint'))
                        | Eval('state').in_(['closed', 'cancelled'])),
                    'depends': ['kind', 'complaint', 'state'],
                    },
                'hand_over': {
                    'invisible': (Bool(Eval('opportunity'))
                        | Eval('state').in_(['cancelled'])),
                    'depends': ['opportunity', 'state'],
                    },
                'invoice_time': {
                    'invisible': ~Eval('billable', False),
                    'depends': ['billable'],
                    },
                })

    @classmethod
    def _open_states(cls):
        "Return the states of tickets still to be worked on"
        return ['new', 'open', 'waiting']

    @classmethod
    def _sla_running_states(cls):
        "Return the states in which the SLA clock runs"
        return ['new', 'open']

    @classmethod
    def _paused_states(cls):
        "Return the states in which the SLA clock is paused"
        return ['waiting', 'resolved']

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_team(cls):
        "The team of the user's employee when there is exactly one"
        pool = Pool()
        Team = pool.get('service.team')
        context = Transaction().context
        employee = context.get('employee')
        if employee is None:
            return
        # a convenience of the form: also for users who do not read teams
        with without_check_access():
            teams = Team.search([
                    ('company', '=', context.get('company', -1)),
                    ('members', '=', employee),
                    ], limit=2)
        if len(teams) == 1:
            return teams[0].id

    @classmethod
    def default_assignee(cls):
        "Who records a ticket takes it"
        return Transaction().context.get('employee')

    @classmethod
    def default_channel(cls):
        return 'phone'

    @classmethod
    def default_kind(cls):
        return 'question'

    @classmethod
    def default_priority(cls):
        return 'normal'

    @classmethod
    def default_reported_date(cls):
        return dt.datetime.now().replace(microsecond=0)

    @classmethod
    def default_billable(cls):
        return False

    @classmethod
    def default_paused_duration(cls):
        return dt.timedelta()

    @classmethod
    def default_response_paused_duration(cls):
        return dt.timedelta()

    @classmethod
    def default_state(cls):
        return 'new'

    @fields.depends('party', 'contact')
    def on_change_party(self):
        if self.contact and self.contact.party != self.party:
            self.contact = None

    @classmethod
    def _get_origins(cls):
        "Return the models a ticket may be about"
        return ['sale.sale', 'sale.line', 'account.invoice',
            'account.invoice.line']

    @classmethod
    def get_origins(cls):
        pool = Pool()
        IrModel = pool.get('ir.model')
        get_name = IrModel.get_name
        return [(None, '')] + [(m, get_name(m)) for m in cls._get_origins()]

    @classmethod
    def get_complaint_states(cls):
        pool = Pool()
        Complaint = pool.get('sale.complaint')
        return [(None, '')] + Complaint.fields_get(
            ['state'])['state']['selection']

    @classmethod
    @without_check_access
    def get_complaint_state(cls, tickets, name):
        return {t.id: t.complaint.state if t.complaint else None
            for t in tickets}

    @classmethod
    @without_check_access
    def get_complaint_cost(cls, tickets, names):
        pool = Pool()
        Complaint = pool.get('sale.complaint')
        complaints = list({t.complaint for t in tickets if t.complaint})
        credits = {}
        if 'complaint_credit' in names:
            credits = Complaint.get_credit_amount(
                complaints, ['credit_amount'])['credit_amount']
        result = {n: {} for n in names}
        for ticket in tickets:
            complaint = ticket.complaint
            for name in names:
                if not complaint:
                    value = None
                elif name == 'complaint_cause':
                    value = complaint.cause.id if complaint.cause else None
                elif name == 'complaint_internal_cost':
                    value = complaint.internal_cost
                elif name == 'complaint_credit':
                    value = credits[complaint.id]
                else:
                    value = complaint.currency.id
                result[name][ticket.id] = value
        return result

    @classmethod
    def set_complaint_cost(cls, tickets, name, value):
        "Write the cause and cost of the complaints, the service desk's input"
        pool = Pool()
        Complaint = pool.get('sale.complaint')
        complaints = list({t.complaint for t in tickets if t.complaint})
        # Service reads complaints but enters their cause and cost here
        # (checked in check_modification)
        with without_check_access():
            Complaint.write(complaints, {name[len('complaint_'):]: value})

    @classmethod
    def _check_complaint_cost(cls, tickets, values):
        "Check the cause and cost a client enters for the tickets' complaints"
        pool = Pool()
        Complaint = pool.get('sale.complaint')
        values = {n[len('complaint_'):]: v for n, v in values.items()
            if n in {'complaint_cause', 'complaint_internal_cost'}}
        if not values:
            return
        for ticket in tickets:
            if not ticket.complaint and any(
                    v is not None for v in values.values()):
                raise ComplaintError(gettext(
                        'crm_service.msg_ticket_complaint_cost_no_complaint',
                        ticket=ticket.rec_name))
        # The values are the client's: checked as such
        with check_access():
            Complaint._check_safe_values([values])
        Complaint.check_cost(
            [t.complaint for t in tickets if t.complaint], values)

    @classmethod
    @without_check_access
    def get_timesheet_lines(cls, tickets, name):
        pool = Pool()
        Line = pool.get('timesheet.line')
        lines = defaultdict(list)
        works = {t.work.id: t.id for t in tickets if t.work}
        for line in Line.search([('work', 'in', list(works))],
                order=[('date', 'ASC'), ('id', 'ASC')]):
            lines[works[line.work.id]].append(line.id)
        return {t.id: lines[t.id] for t in tickets}

    @classmethod
    @without_check_access
    def get_timesheet_duration(cls, tickets, name):
        pool = Pool()
        Work = pool.get('timesheet.work')
        works = [t.work for t in tickets if t.work]
        durations = Work.get_duration(works, 'duration')
        return {t.id: durations.get(t.work.id) if t.work else None
            for t in tickets}

    def get_rec_name(self, name):
        items = [self.number or f'({self.id})']
        if self.title:
            items.append(self.title)
        return ' '.join(items)

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, value = clause[:3]
        if operator.startswith('!') or operator.startswith('not '):
            bool_op = 'AND'
        else:
            bool_op = 'OR'
        return [bool_op,
            ('number', operator, value),
            ('title', operator, value),
            ]

    @classmethod
    def create(cls, vlist):
        pool = Pool()
        Configuration = pool.get('service.configuration')
        if any(not v.get('number') for v in vlist):
            with without_check_access():
                sequence = Configuration(1).ticket_sequence
            # SQLite reads the sequence's next number before its write
            # transaction begins: simultaneous tickets would share it.
            lock([sequence] if sequence else [])
        return super().create(vlist)

    @classmethod
    def preprocess_values(cls, mode, values):
        pool = Pool()
        Configuration = pool.get('service.configuration')
        values = super().preprocess_values(mode, values)
        if mode == 'create' and not values.get('number'):
            configuration = Configuration(1)
            if configuration.ticket_sequence:
                values['number'] = configuration.ticket_sequence.get()
        return values

    @classmethod
    def _workflow_fields(cls):
        return super()._workflow_fields() | {
            'number', 'message_id', 'sla_state', 'escalation',
            'response_deadline', 'resolution_deadline',
            'response_risk_date', 'resolution_risk_date',
            'first_response_date', 'paused_duration',
            'response_paused_duration', 'paused_since',
            'opened_by', 'opened_date', 'waiting_by', 'waiting_date',
            'resolved_by', 'resolved_date', 'closed_by', 'closed_date',
            'cancelled_by', 'cancelled_date',
            'complaint', 'opportunity', 'work'}

    @classmethod
    def _new_only_fields(cls):
        "Return the fields that clients may change only on new tickets"
        return {'company', 'reported_date', 'sla'}

    @classmethod
    def check_modification(cls, mode, tickets, values=None, external=False):
        super().check_modification(
            mode, tickets, values=values, external=external)
        if mode == 'write' and client_call(external):
            check_state_fields(
                tickets, values, cls._new_only_fields(), ['new'],
                lambda ticket, field: TicketAccessError(gettext(
                        'crm_service.msg_ticket_new_only_field',
                        ticket=ticket.rec_name, field=field)))
            cls._check_complaint_cost(tickets, values)
        if mode == 'delete':
            for ticket in tickets:
                if ticket.state not in {'new', 'cancelled'}:
                    raise TicketError(gettext(
                            'crm_service.msg_ticket_delete_not_new',
                            ticket=ticket.rec_name))

    @classmethod
    def on_modification(cls, mode, tickets, field_names=None):
        super().on_modification(mode, tickets, field_names=field_names)
        with workflow_writes():
            if mode == 'create':
                cls._create_works(tickets)
            if mode == 'create' or (field_names and field_names & {
                        'priority', 'sla', 'reported_date', 'party',
                        'paused_duration', 'response_paused_duration'}):
                cls._update_sla(tickets)

    @classmethod
    def on_delete(cls, tickets):
        pool = Pool()
        Work = pool.get('timesheet.work')
        callback = super().on_delete(tickets)
        # the work would keep a dangling origin; its lines prevent deletion
        works = [t.work for t in tickets if t.work]
        if works:
            callback.append(lambda: Work.delete(Work.browse(works)))
        return callback

    @classmethod
    def copy(cls, tickets, default=None):
        default = default.copy() if default is not None else {}
        for fname in [
                'number', 'message_id', 'response_deadline',
                'resolution_deadline', 'response_risk_date',
                'resolution_risk_date', 'first_response_date',
                'paused_since', 'sla_state', 'escalation', 'activities',
                'complaint', 'opportunity', 'work', 'opened_by',
                'opened_date', 'waiting_by', 'waiting_date', 'resolved_by',
                'resolved_date', 'closed_by', 'closed_date', 'cancelled_by',
                'cancelled_date']:
            default.setdefault(fname, None)
        default.setdefault('paused_duration', dt.timedelta())
        default.setdefault('response_paused_duration', dt.timedelta())
        default.setdefault('reported_date', cls.default_reported_date())
        default.setdefault('state', cls.default_state())
        return super().copy(tickets, default=default)

    @classmethod
    def _create_works(cls, tickets):
        "Create the timesheet work of each ticket"
        pool = Pool()
        Work = pool.get('timesheet.work')
        tickets = [t for t in tickets if not t.work]
        works = [Work(origin=t, company=t.company) for t in tickets]
        # the ticket owns its work: no timesheet rights needed to create it
        with without_check_access():
            Work.save(works)
        to_write = []
        for ticket, work in zip(tickets, works):
            to_write.extend(([ticket], {'work': work.id}))
        if to_write:
            with workflow_writes():
                cls.write(*to_write)

    # SLA clock

    @classmethod
    def _now(cls):
        return dt.datetime.now().replace(microsecond=0)

    def _get_sla(self):
        "Return the SLA that applies to the ticket"
        pool = Pool()
        Configuration = pool.get('service.configuration')
        if self.party and self.party.service_sla:
            if self.party.service_sla.company == self.company:
                return self.party.service_sla
        sla = Configuration(1).default_sla
        if sla and sla.company == self.company:
            return sla

    def _get_deadlines(self):
        "Return the deadlines and at-risk dates of the ticket's SLA"
        values = dict.fromkeys([
                'response_deadline', 'response_risk_date',
                'resolution_deadline', 'resolution_risk_date'])
        if not self.sla:
            return values
        response, resolution = self.sla.get_target(self.priority)
        if response is None:
            return values
        clock = self.sla.clock
        share = self.sla.at_risk_share
        start = self.reported_date
        paused = self.paused_duration or dt.timedelta()
        # waiting for the customer before the first response pauses it too
        response_paused = self.response_paused_duration or dt.timedelta()
        values['response_deadline'] = clock.deadline(
            start, response + response_paused)
        values['response_risk_date'] = clock.deadline(
            start, response * share + response_paused)
        values['resolution_deadline'] = clock.deadline(
            start, resolution + paused)
        values['resolution_risk_date'] = clock.deadline(
            start, resolution * share + paused)
        return values

    def _get_sla_state(self, now):
        "Return the SLA state of the ticket at now"
        if not self.sla or not self.response_deadline:
            return None
        breached = at_risk = False
        running = self.state in self._sla_running_states()
        if self.first_response_date:
            breached |= self.first_response_date > self.response_deadline
        elif running:
            breached |= now > self.response_deadline
            at_risk |= now >= self.response_risk_date
        if self.resolved_date:
            breached |= self.resolved_date > self.resolution_deadline
        elif running:
            breached |= now > self.resolution_deadline
            at_risk |= now >= self.resolution_risk_date
        elif self.sla_state == 'breached':
            breached = True
        if breached:
            return 'breached'
        elif at_risk:
            return 'at_risk'
        return 'on_track'

    @classmethod
    def _update_sla(cls, tickets, now=None):
        "Compute and store the SLA, deadlines and state of the tickets"
        if now is None:
            now = cls._now()
        to_write = []
        for ticket in tickets:
            values = {}
            if not ticket.sla and ticket.state == 'new':
                sla = ticket._get_sla()
                if sla:
                    ticket.sla = values['sla'] = sla.id
            for fname, value in ticket._get_deadlines().items():
                if getattr(ticket, fname) != value:
                    values[fname] = value
                    setattr(ticket, fname, value)
            sla_state = ticket._get_sla_state(now)
            if sla_state != ticket.sla_state:
                values['sla_state'] = sla_state
            if values:
                to_write.extend(([ticket], values))
        if to_write:
            with workflow_writes():
                cls.write(*to_write)

    @classmethod
    def _pause(cls, tickets):
        now = cls._now()
        with workflow_writes():
            cls.write([t for t in tickets if not t.paused_since], {
                    'paused_since': now,
                    })

    @classmethod
    def _resume(cls, tickets):
        "Add the business time spent paused and shift the deadlines"
        now = cls._now()
        to_write = []
        for ticket in tickets:
            if not ticket.paused_since:
                continue
            elapsed = dt.timedelta()
            if ticket.sla:
                elapsed = ticket.sla.clock.elapsed(ticket.paused_since, now)
            values = {
                'paused_since': None,
                'paused_duration': (
                    (ticket.paused_duration or dt.timedelta()) + elapsed),
                'resolved_date': None,
                }
            if not ticket.first_response_date:
                values['response_paused_duration'] = (
                    (ticket.response_paused_duration or dt.timedelta())
                    + elapsed)
            to_write.extend(([ticket], values))
        if to_write:
            with workflow_writes():
                cls.write(*to_write)

    @classmethod
    def record_first_response(cls, tickets, date=None):
        """Record the first response to the tickets and open the new ones

        date is the server time of the response, never a date typed by a
        user."""
        if date is None:
            date = cls._now()
        tickets = [t for t in tickets if not t.first_response_date]
        if not tickets:
            return
        with workflow_writes():
            cls.write(tickets, {'first_response_date': date})
            cls.open([t for t in tickets if t.state == 'new'])
            cls._update_sla(tickets)

    @classmethod
    def escalate(cls):
        """Mark tickets at risk or breached, plan an escalation activity and
        send its e-mail (ir.cron): one query finds the tickets, the queue
        escalates them"""
        now = cls._now()
        tickets = cls.search(cls._escalation_domain(now))
        enqueue(cls, 'escalate_tickets', tickets,
            run=lambda tickets: cls._escalate(tickets, now))

    @classmethod
    def _escalation_domain(cls, now):
        return [
            ('state', 'in', cls._sla_running_states()),
            ('sla', '!=', None),
            ['OR', [
                    ('first_response_date', '=', None),
                    ('response_risk_date', '<=', now),
                    ],
                ('resolution_risk_date', '<=', now),
                ],
            ]

    @classmethod
    def escalate_tickets(cls, tickets):
        """Escalate the tickets that still need it (the task of escalate):
        each level is planned and mailed once"""
        # A concurrent run waits for this one, retries and finds the level
        lock(tickets)
        now = cls._now()
        cls._escalate(cls.search([
                    ('id', 'in', [t.id for t in tickets]),
                    ] + cls._escalation_domain(now)), now)

    @classmethod
    def _escalate(cls, tickets, now):
        pool = Pool()
        Activity = pool.get('crm.activity')
        by_state = defaultdict(list)
        activities, escalated = [], defaultdict(list)
        for ticket in tickets:
            sla_state = ticket._get_sla_state(now)
            if sla_state != ticket.sla_state:
                by_state[sla_state].append(ticket)
            if sla_state not in ESCALATION_LEVELS:
                continue
            level = ESCALATION_LEVELS.index(sla_state)
            if level > ESCALATION_LEVELS.index(ticket.escalation):
                activities.append(ticket._get_escalation_activity(sla_state))
                escalated[sla_state].append(ticket)
        to_write = []
        for sla_state, records in by_state.items():
            to_write.extend((records, {'sla_state': sla_state}))
        for level, records in escalated.items():
            to_write.extend((records, {'escalation': level}))
        with workflow_writes():
            if to_write:
                cls.write(*to_write)
            Activity.save(activities)
        cls._notify_escalations(activities)

    @classmethod
    def _notify_escalations(cls, activities):
        "Send an e-mail of each escalation to its employee once committed"
        from_ = config.get('email', 'from')
        for activity in activities:
            to = activity.employee.party.email if activity.employee else None
            if not to or not from_:
                continue
            msg = EmailMessage()
            msg['From'] = from_
            msg['To'] = to
            msg['Subject'] = activity.subject
            msg.set_content(activity.resource.description or '')
            send_message_transactional(msg, strict=False)

    def _get_escalation_activity(self, level):
        "Return the activity planned for the team lead at level"
        pool = Pool()
        Activity = pool.get('crm.activity')
        employee = (self.team.lead if self.team and self.team.lead
            else self.assignee)
        return Activity(
            company=self.company,
            activity_type='note',
            direction='internal',
            subject=gettext(
                'crm_service.msg_ticket_escalation_subject',
                # the level as the user's language names it
                level=dict(self.fields_get(
                        ['escalation'])['escalation']['selection'])[level],
                ticket=self.rec_name),
            party=self.party or self.company.party,
            contact=self.contact,
            resource=self,
            employee=employee,
            date=self._now(),
            service_system=True,
            state='planned')

    # Workflow

    @classmethod
    @ModelView.button
    @transition('open')
    @set_employee('opened_by')
    def open(cls, tickets):
        cls._resume(tickets)
        cls.write([t for t in tickets if not t.opened_date], {
                'opened_date': cls._now(),
                })

    @classmethod
    def _respond_states(cls):
        "Return the states in which a ticket gets its first response"
        return ['new', 'open']

    @classmethod
    @ModelView.button
    def respond(cls, tickets):
        "Log an outgoing response, which is the first response"
        pool = Pool()
        Activity = pool.get('crm.activity')
        User = pool.get('res.user')
        # a second click waits for the first and then finds the response
        lock(tickets)
        tickets = cls.browse(tickets)
        employee = User(Transaction().user).employee
        now = cls._now()
        activities = []
        for ticket in tickets:
            if (ticket.first_response_date
                    or ticket.state not in cls._respond_states()):
                continue
            activities.append(Activity(
                    company=ticket.company,
                    activity_type=(
                        'email' if ticket.channel == 'email' else 'call'),
                    direction='out',
                    subject=gettext(
                        'crm_service.msg_ticket_response_subject',
                        ticket=ticket.rec_name),
                    party=ticket.party or ticket.company.party,
                    contact=ticket.contact,
                    resource=ticket,
                    employee=(employee
                        if employee and employee.company == ticket.company
                        else None),
                    date=now,
                    service_system=True,
                    state='done'))
        with workflow_writes():
            Activity.save(activities)
        # the activities recorded the response; read the tickets again
        cls.record_first_response(
            cls.browse([a.resource.id for a in activities]), now)

    @classmethod
    @ModelView.button
    @transition('waiting')
    @set_employee('waiting_by')
    def wait(cls, tickets):
        cls._pause(tickets)
        cls.write(tickets, {'waiting_date': cls._now()})

    @classmethod
    @ModelView.button
    @transition('resolved')
    @set_employee('resolved_by')
    def resolve(cls, tickets):
        cls._resume(tickets)
        now = cls._now()
        cls.write(tickets, {'resolved_date': now})
        cls._update_sla(tickets, now=now)
        cls._pause(tickets)

    @classmethod
    @ModelView.button
    def close(cls, tickets):
        for ticket in tickets:
            if ticket.state != 'resolved':
                raise TicketValidationError(gettext(
                        'crm_service.msg_ticket_close_not_resolved',
                        ticket=ticket.rec_name))
        cls._close(tickets)

    @classmethod
    @transition('closed')
    @set_employee('closed_by')
    def _close(cls, tickets):
        cls.write(tickets, {'closed_date': cls._now()})

    @classmethod
    @ModelView.button
    @transition('cancelled')
    @set_employee('cancelled_by')
    def cancel(cls, tickets):
        cls.write(tickets, {'cancelled_date': cls._now()})

    @classmethod
    @ModelView.button
    @transition('new')
    def draft(cls, tickets):
        cls.write(tickets, {
                'cancelled_by': None,
                'cancelled_date': None,
                })

    # Complaints, hand-over and invoicing

    @classmethod
    @ModelView.button
    def create_complaint(cls, tickets):
        pool = Pool()
        Complaint = pool.get('sale.complaint')
        lock(tickets)
        tickets = cls.browse(tickets)
        complaints, with_complaint = [], []
        for ticket in tickets:
            if ticket.complaint:
                continue
            complaints.append(ticket._get_complaint())
            with_complaint.append(ticket)
        # the button is for service users, who need no sales rights
        with without_check_access():
            Complaint.save(complaints)
        to_write = []
        for ticket, complaint in zip(with_complaint, complaints):
            to_write.extend(([ticket], {'complaint': complaint.id}))
        if to_write:
            with workflow_writes():
                cls.write(*to_write)

    def _get_complaint(self):
        "Return the standard complaint for the ticket's origin"
        pool = Pool()
        Complaint = pool.get('sale.complaint')
        Type = pool.get('sale.complaint.type')
        if self.kind != 'complaint':
            raise ComplaintError(gettext(
                    'crm_service.msg_ticket_complaint_kind',
                    ticket=self.rec_name))
        if not self.origin or self.origin.id < 0:
            raise ComplaintError(gettext(
                    'crm_service.msg_ticket_complaint_no_origin',
                    ticket=self.rec_name))
        model = self.origin.__name__
        types = Type.search([('origin.name', '=', model)], limit=1)
        if not types:
            raise ComplaintError(gettext(
                    'crm_service.msg_ticket_complaint_no_type',
                    ticket=self.rec_name, model=model))
        type_, = types
        if model in {'sale.sale', 'account.invoice'}:
            customer = self.origin.party
        elif model == 'sale.line':
            customer = self.origin.sale.party
        else:
            customer = self.origin.invoice.party
        return Complaint(
            company=self.company,
            customer=self.party or customer,
            type=type_,
            origin=self.origin,
            product=self.product or getattr(self.origin, 'product', None),
            reference=self.number,
            description='\n\n'.join(
                filter(None, [self.title, self.description])))

    @classmethod
    @ModelView.button
    def hand_over(cls, tickets):
        "Hand the tickets over to sales as follow-up opportunities"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        lock(tickets)
        tickets = [t for t in cls.browse(tickets) if not t.opportunity]
        opportunities = [t._get_opportunity() for t in tickets]
        with without_check_access():
            Opportunity.save(opportunities)
        to_write = []
        for ticket, opportunity in zip(tickets, opportunities):
            to_write.extend(([ticket], {'opportunity': opportunity.id}))
        if to_write:
            with workflow_writes():
                cls.write(*to_write)

    def _get_opportunity(self):
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        opportunity = Opportunity(
            company=self.company,
            currency=self.company.currency,
            party=self.party,
            contact=self.contact,
            description=self.title,
            employee=self.assignee,
            crm_channel='service',
            crm_origin=self)
        return opportunity

    @classmethod
    @ModelView.button
    def invoice_time(cls, tickets):
        "Invoice the uninvoiced billable time of the tickets per customer"
        pool = Pool()
        Configuration = pool.get('service.configuration')
        Invoice = pool.get('account.invoice')
        InvoiceLine = pool.get('account.invoice.line')
        Line = pool.get('timesheet.line')
        if not tickets:
            return
        # a second click waits for the first; the lines it invoiced are
        # changed, so the second finds nothing left to invoice
        lock(tickets)
        tickets = cls.browse(tickets)
        works = {t.work.id: t for t in tickets if t.billable and t.work}
        lines = Line.search([
                ('work', 'in', list(works)),
                ('service_invoice_line', '=', None),
                ], order=[('date', 'ASC'), ('id', 'ASC')])
        lock(lines)
        if not lines:
            raise InvoicingError(gettext(
                    'crm_service.msg_ticket_nothing_to_invoice',
                    tickets=', '.join(t.rec_name for t in tickets[:5])))
        product = Configuration(1).service_product
        if not product:
            raise InvoicingError(gettext(
                    'crm_service.msg_ticket_invoice_no_product'))
        ticket_lines = defaultdict(list)
        for line in lines:
            ticket = works[line.work.id]
            if not ticket.party:
                raise InvoicingError(gettext(
                        'crm_service.msg_ticket_invoice_no_party',
                        ticket=ticket.rec_name))
            ticket_lines[ticket].append(line)
        invoices = {}
        invoice_lines = []
        for ticket, lines in ticket_lines.items():
            key = (ticket.company, ticket.party)
            if key not in invoices:
                invoices[key] = ticket._get_time_invoice()
            for line in lines:
                invoice_lines.append((
                        ticket._get_time_invoice_line(
                            invoices[key], product, line),
                        line))
        with without_check_access():
            Invoice.save(invoices.values())
            InvoiceLine.save([il for il, _ in invoice_lines])
            Invoice.update_taxes(list(invoices.values()))
        to_write = []
        for invoice_line, line in invoice_lines:
            to_write.extend(
                ([line], {'service_invoice_line': invoice_line.id}))
        with without_check_access(), workflow_writes():
            Line.write(*to_write)
        touch(tickets)

    def _get_time_invoice(self):
        pool = Pool()
        Invoice = pool.get('account.invoice')
        invoice = Invoice(
            company=self.company,
            type='out',
            party=self.party,
            invoice_address=self.party.address_get(type='invoice'),
            currency=self.company.currency,
            account=self.party.account_receivable_used,
            payment_term=self.party.customer_payment_term)
        invoice.set_journal()
        return invoice

    def _get_time_invoice_line(self, invoice, product, time_line):
        "Return the invoice line of the time line, priced as a sale line"
        pool = Pool()
        InvoiceLine = pool.get('account.invoice.line')
        Lang = pool.get('ir.lang')
        ModelData = pool.get('ir.model.data')
        Product = pool.get('product.product')
        Uom = pool.get('product.uom')
        hour = Uom(ModelData.get_id('product', 'uom_hour'))
        line = InvoiceLine(invoice=invoice, company=self.company)
        line.on_change_invoice()
        line.type = 'line'
        line.product = product
        line.on_change_product()
        line.unit = product.default_uom
        line.quantity = Uom.compute_qty(
            hour, time_line.hours, product.default_uom)
        with Transaction().set_context(
                self._get_context_time_sale_price(line, time_line)):
            line.unit_price = Product.get_sale_price(
                [product], abs(line.quantity))[product.id]
        if line.unit_price is None:
            raise InvoicingError(gettext(
                    'crm_service.msg_ticket_invoice_no_price',
                    ticket=self.rec_name, product=product.rec_name,
                    party=invoice.party.rec_name))
        description = [product.rec_name, self.rec_name,
            Lang.get().strftime(time_line.date)]
        if time_line.description:
            description[-1] += f' {time_line.description}'
        line.description = '\n'.join(description)
        line.origin = time_line
        if not getattr(line, 'account', None):
            raise InvoicingError(gettext(
                    'crm_service.msg_ticket_invoice_no_account',
                    product=product.rec_name))
        return line

    def _get_context_time_sale_price(self, invoice_line, time_line):
        "Return the context of the sale price as sale.line builds it"
        invoice = invoice_line.invoice
        return {
            'company': self.company.id,
            'currency': invoice.currency.id,
            'customer': invoice.party.id,
            'sale_date': time_line.date,
            'uom': invoice_line.unit.id,
            'taxes': [t.id for t in invoice_line.taxes or []],
            }

    # E-mail intake

    @classmethod
    def from_inbound_email(cls, email_, rule):
        """Create a ticket from an e-mail, or log a reply whose subject holds
        [<ticket number>] on that ticket when its sender belongs to it.

        Auto-replies and bounces create nothing; a message that cannot be
        read, has no sender or says nothing is refused (the web hook answers
        400) before anything is written."""
        message = cls._inbound_message(email_)
        company = cls._inbound_company(rule)
        with Transaction().set_context(company=company.id):
            return cls._from_inbound_message(message, company)

    @classmethod
    def _inbound_message(cls, email_):
        "Return the message of email_ as inbound_email.parse_message gives it"
        try:
            if hasattr(email_, 'service_message'):
                message = email_.service_message()
            else:
                message = parse_dict(email_.as_dict())
        except UnreadableMessage as exception:
            logger.warning(
                "inbound e-mail refused, unreadable: %s", exception)
            raise InboundEmailError(gettext(
                    'crm_service.msg_inbound_email_invalid')) from exception
        if not message['automatic']:
            if not message['from']:
                logger.warning(
                    "inbound e-mail %s refused: no sender",
                    message['message_id'])
                raise InboundEmailError(gettext(
                        'crm_service.msg_inbound_email_no_sender',
                        subject=message['subject']))
            if not (message['subject'] or message['text']
                    or message['attachments']):
                logger.warning(
                    "inbound e-mail %s from %s refused: empty",
                    message['message_id'], message['from'])
                raise InboundEmailError(gettext(
                        'crm_service.msg_inbound_email_empty',
                        sender=message['from']))
        return message

    @classmethod
    def _from_inbound_message(cls, message, company):
        pool = Pool()
        Activity = pool.get('crm.activity')
        sender = message['from']
        message_id = message['message_id']
        if message['automatic'] == 'bounce':
            # anyone can forge a bounce: it never writes into a ticket
            logger.info("inbound e-mail %s: bounce from %s ignored",
                message_id, sender)
            return None
        # All deliveries to the company take turns from here: a concurrent
        # delivery of the same message waits and then finds its result.
        lock([company])
        if message_id:
            tickets = cls.search([
                    ('message_id', '=', message_id),
                    ('company', '=', company.id),
                    ], limit=1)
            if tickets:
                return tickets[0]
            activities = Activity.search([
                    ('service_message_id', '=', message_id),
                    ('company', '=', company.id),
                    ], limit=1)
            if activities:
                return activities[0]
        subject = message['subject']
        ticket = cls._ticket_in_subject(subject, company)
        if ticket and not cls._inbound_sender_allowed(ticket, sender):
            logger.info(
                "inbound e-mail %s: %s is no contact of ticket %s",
                message_id, sender, ticket.number)
            ticket = None
        if message['automatic']:
            if not ticket:
                logger.info("inbound e-mail %s: auto-reply from %s ignored",
                    message_id, sender)
                return None
            activity = cls._inbound_activity(
                ticket, message, company, 'note', strip_quoted)
            logger.info("inbound e-mail %s: auto-reply noted on ticket %s",
                message_id, ticket.number)
            return activity
        if ticket:
            activity = cls._inbound_activity(
                ticket, message, company, 'email', strip_quoted)
            cls.open([ticket] if ticket.state in cls._paused_states() else [])
            return activity

        party, contact = cls._party_from_email(sender)
        ticket = cls(
            company=company,
            party=party,
            contact=contact,
            email_from=sender,
            message_id=message_id,
            channel='email',
            # nobody took it yet, whoever runs the intake
            team=None,
            assignee=None,
            title=subject[:256] or gettext(
                'crm_service.msg_ticket_no_subject'),
            description=cls._inbound_text(message, message['text']))
        with workflow_writes():
            ticket.save()
        cls._inbound_attachments(ticket, message)
        touch([company])
        return ticket

    @classmethod
    def _inbound_activity(cls, ticket, message, company, type_, strip):
        "Log the message on ticket as an incoming activity of type_"
        pool = Pool()
        Activity = pool.get('crm.activity')
        activity = Activity(
            company=company,
            activity_type=type_,
            direction='in',
            subject=message['subject'][:256] or gettext(
                'crm_service.msg_ticket_no_subject'),
            description=cls._inbound_text(message, strip(message['text'])),
            party=ticket.party or company.party,
            contact=ticket.contact,
            resource=ticket,
            date=cls._now(),
            service_message_id=message['message_id'],
            service_system=True,
            state='done')
        with workflow_writes():
            activity.save()
        cls._inbound_attachments(ticket, message)
        touch([company])
        return activity

    @classmethod
    def _inbound_text(cls, message, text):
        "Return text with a line for each attachment too large to store"
        lines = [text] if text else []
        for name, size in message['skipped']:
            lines.append(gettext(
                    'crm_service.msg_inbound_email_attachment_skipped',
                    name=name, size=_megabytes(size),
                    limit=_megabytes(attachment_max_size())))
        return '\n\n'.join(lines)

    @classmethod
    def _inbound_attachments(cls, ticket, message):
        "Store the attachments of the message on ticket"
        pool = Pool()
        Attachment = pool.get('ir.attachment')
        Attachment.save([
                Attachment(
                    name=a['filename'], type='data', data=a['data'],
                    resource=ticket)
                for a in message['attachments']])

    @classmethod
    def _inbound_company(cls, rule):
        """Return the company of the rule; without one, the company of the
        context or the only company"""
        pool = Pool()
        Company = pool.get('company.company')
        company = getattr(rule, 'company', None)
        if company:
            return company
        company_id = Transaction().context.get('company')
        if company_id is None:
            companies = Company.search([], limit=2)
            if len(companies) == 1:
                company_id = companies[0].id
        if company_id is None:
            inbox = getattr(rule, 'inbox', None)
            logger.warning("inbound e-mail refused: inbox %s has no company",
                inbox.rec_name if inbox else None)
            raise InboundEmailError(gettext(
                    'crm_service.msg_ticket_no_company',
                    inbox=inbox.rec_name if inbox else ''))
        return Company(company_id)

    @classmethod
    def _ticket_in_subject(cls, subject, company):
        "Return the ticket whose number is in brackets in the subject"
        numbers = NUMBER_IN_SUBJECT.findall(subject or '')
        if not numbers:
            return None
        tickets = cls.search([
                ('number', 'in', [n.strip() for n in numbers]),
                ('company', '=', company.id),
                ], limit=1)
        return tickets[0] if tickets else None

    @classmethod
    def _inbound_sender_allowed(cls, ticket, address):
        """Whether the e-mail address may post into ticket: the address the
        ticket came from, its contact or an e-mail of its customers"""
        pool = Pool()
        ContactMechanism = pool.get('party.contact_mechanism')
        address = (address or '').strip().lower()
        if not address:
            return False
        if (ticket.email_from or '').strip().lower() == address:
            return True
        if (ticket.contact and ticket.contact.type == 'email'
                and (ticket.contact.value or '').strip().lower() == address):
            return True
        parties = ticket._inbound_sender_parties()
        if not parties:
            return False
        return bool(ContactMechanism.search([
                    ('party', 'in', [p.id for p in parties]),
                    ('type', '=', 'email'),
                    ('value', 'ilike', _escape_like(address)),
                    ], limit=1))

    def _inbound_sender_parties(self):
        """Return the parties whose e-mail addresses may post into the
        ticket; a module that relates parties adds them here"""
        return [self.party] if self.party else []

    @classmethod
    def _party_from_email(cls, address):
        "Return the party and contact mechanism of the e-mail address"
        pool = Pool()
        ContactMechanism = pool.get('party.contact_mechanism')
        mechanisms = ContactMechanism.search([
                ('type', '=', 'email'),
                ('value', 'ilike', _escape_like(address)),
                ], limit=1)
        if mechanisms:
            mechanism, = mechanisms
            return mechanism.party, mechanism
        return None, None


def _megabytes(size):
    "Return size in bytes as the user reads it"
    if size < 1024 * 1024:
        return f'{-(-size // 1024)} KB'
    return f'{size / 1024 / 1024:.1f} MB'


def _escape_like(value):
    "Return value as a LIKE pattern that matches only itself"
    return (value.replace('\\', '\\\\')
        .replace('%', '\\%').replace('_', '\\_'))


class Ticket_SalePriceList(metaclass=PoolMeta):
    __name__ = 'service.ticket'

    def _get_context_time_sale_price(self, invoice_line, time_line):
        context = super()._get_context_time_sale_price(
            invoice_line, time_line)
        # the price list a new sale of the customer gets
        price_list = self.party.get_multivalue(
            'sale_price_list', company=self.company.id)
        if price_list:
            context['price_list'] = price_list.id
        return context
