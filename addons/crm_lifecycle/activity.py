# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Workflow, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .common import (
    SafeValuesMixin,
    WorkflowFieldsMixin,
    check_state_fields,
    client_call,
    model_selection,
    transition,
)
from .exceptions import (
    ActivityClosedError,
    ActivityDeleteError,
    ActivityValidationError,
)

ACTIVITY_TYPES = [
    ('call', "Call"),
    ('meeting', "Meeting"),
    ('email', "E-mail"),
    ('letter', "Letter"),
    ('visit', "Visit"),
    ('note', "Note"),
    ('document', "Document"),
    ]
FOLLOWUP_STATUSES = [
    (None, ""),
    ('overdue', "Overdue"),
    ('today', "Today"),
    ('week', "This Week"),
    ('later', "Later"),
    ]


class Activity(
        WorkflowFieldsMixin, SafeValuesMixin, Workflow, ModelSQL,
        ModelView):
    __string__ = "CRM Activity"
    __name__ = 'crm.activity'
    _rec_name = 'subject'

    _states = {
        'readonly': Eval('state') != 'planned',
        }

    company = fields.Many2One(
        'company.company', "Company", required=True, states=_states)
    activity_type = fields.Selection(
        ACTIVITY_TYPES, "Type", required=True, sort=False, states=_states)
    direction = fields.Selection([
            ('in', "Incoming"),
            ('out', "Outgoing"),
            ('internal', "Internal"),
            ], "Direction", required=True, sort=False, states=_states)
    subject = fields.Char("Subject", required=True, states=_states)
    description = fields.Text("Description")
    party = fields.Many2One(
        'party.party', "Party", required=True, ondelete='RESTRICT',
        states=_states,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    contact = fields.Many2One(
        'party.contact_mechanism', "Contact Person",
        domain=[
            ('party', '=', Eval('party', -1)),
            ],
        states=_states,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    resource = fields.Reference(
        "Document", selection='get_resources', states=_states,
        help="The opportunity, quotation, invoice, project or ticket "
        "the activity belongs to.")
    date = fields.DateTime("Date", required=True, states=_states)
    duration = fields.TimeDelta("Duration", states=_states)
    employee = fields.Many2One(
        'company.employee', "Employee",
        domain=[
            ('company', '=', Eval('company', -1)),
            ],
        states=_states,
        help="Who does the activity; planned activities are the "
        "employee's follow-ups.")
    followup_date = fields.Date(
        "Follow-up On",
        states={
            'readonly': Eval('state') == 'cancelled',
            },
        help="When the activity is done, a follow-up is planned "
        "for this day.")
    followup_of = fields.Many2One(
        'crm.activity', "Follow-up of", readonly=True, ondelete='SET NULL')
    followup_status = fields.Function(fields.Selection(
            FOLLOWUP_STATUSES, "Follow-up Status", sort=False),
        'get_followup_status', searcher='search_followup_status')
    state = fields.Selection([
            ('planned', "Planned"),
            ('done', "Done"),
            ('cancelled', "Cancelled"),
            ], "State", required=True, readonly=True, sort=False)

    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t,
                    (t.party, Index.Range()),
                    (t.date, Index.Range(order='DESC'))),
                Index(t,
                    (t.employee, Index.Range()),
                    (t.date, Index.Range()),
                    where=t.state == 'planned'),
                Index(t, (t.resource, Index.Equality())),
                })
        cls._order = [('date', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('planned', 'done'),
            ('planned', 'cancelled'),
            ('cancelled', 'planned'),
            }
        cls._buttons.update({
                'plan': {
                    'invisible': Eval('state') != 'cancelled',
                    'icon': 'tryton-undo',
                    'depends': ['state'],
                    },
                'do': {
                    'invisible': Eval('state') != 'planned',
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                'cancel': {
                    'invisible': Eval('state') != 'planned',
                    'icon': 'tryton-cancel',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_activity_type(cls):
        return 'call'

    @classmethod
    def default_direction(cls):
        return 'out'

    @classmethod
    def default_date(cls):
        return datetime.datetime.now().replace(microsecond=0)

    @classmethod
    def default_employee(cls):
        return Transaction().context.get('employee')

    @classmethod
    def default_state(cls):
        return 'planned'

    @classmethod
    def _get_resources(cls):
        "Return the models an activity may belong to"
        return ['sale.opportunity', 'sale.sale', 'account.invoice']

    @classmethod
    def get_resources(cls):
        return model_selection(cls._get_resources())

    @classmethod
    def _followup_bounds(cls):
        pool = Pool()
        Date = pool.get('ir.date')
        today = datetime.datetime.combine(Date.today(), datetime.time())
        return {
            'overdue': (None, today),
            'today': (today, today + datetime.timedelta(days=1)),
            'week': (
                today + datetime.timedelta(days=1),
                today + datetime.timedelta(days=7)),
            'later': (today + datetime.timedelta(days=7), None),
            }

    @classmethod
    def get_followup_status(cls, activities, name):
        bounds = cls._followup_bounds()
        result = {}
        for activity in activities:
            result[activity.id] = None
            if activity.state != 'planned':
                continue
            for status, (start, end) in bounds.items():
                if ((start is None or activity.date >= start)
                        and (end is None or activity.date < end)):
                    result[activity.id] = status
                    break
        return result

    @classmethod
    def search_followup_status(cls, name, clause):
        _, operator, value = clause[:3]
        values = value if isinstance(value, (list, tuple)) else [value]
        bounds = cls._followup_bounds()
        domain = ['OR']
        for status in values:
            if status not in bounds:
                continue
            start, end = bounds[status]
            status_domain = [('state', '=', 'planned')]
            if start is not None:
                status_domain.append(('date', '>=', start))
            if end is not None:
                status_domain.append(('date', '<', end))
            domain.append(status_domain)
        if len(domain) == 1:
            domain = [('id', '=', -1)]
        if operator in {'!=', 'not in'}:
            domain = ['NOT', domain]
        return domain

    @classmethod
    def validate_fields(cls, activities, field_names):
        super().validate_fields(activities, field_names)
        cls.check_followup_date(activities, field_names)

    @classmethod
    def check_followup_date(cls, activities, field_names=None):
        if field_names and not (field_names & {'date', 'followup_date'}):
            return
        for activity in activities:
            if (activity.followup_date and activity.date
                    and activity.followup_date < activity.date.date()):
                raise ActivityValidationError(gettext(
                        'crm_lifecycle.msg_activity_followup_before_date',
                        activity=activity.rec_name,
                        followup_date=activity.followup_date,
                        date=activity.date.date()))

    @classmethod
    def _workflow_fields(cls):
        # the follow-up link is made by Done
        return super()._workflow_fields() | {'followup_of'}

    @classmethod
    def _closed_fields(cls):
        "Return the fields that stay as they were once done or cancelled"
        return {
            'company', 'activity_type', 'direction', 'subject', 'party',
            'contact', 'resource', 'date', 'duration', 'employee'}

    @classmethod
    def check_modification(cls, mode, activities, values=None, external=False):
        super().check_modification(
            mode, activities, values=values, external=external)
        if mode == 'write' and client_call(external):
            check_state_fields(
                activities, values, cls._closed_fields(), ['planned'],
                lambda activity, field: ActivityClosedError(gettext(
                        'crm_lifecycle.msg_activity_closed_write',
                        activity=activity.rec_name, field=field)))
        if mode == 'delete':
            for activity in activities:
                if activity.state == 'done':
                    raise ActivityDeleteError(gettext(
                            'crm_lifecycle.msg_activity_delete_done',
                            activity=activity.rec_name))

    @classmethod
    def copy(cls, activities, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('state', 'planned')
        default.setdefault('followup_of', None)
        return super().copy(activities, default=default)

    def _get_followup(self):
        "Return the planned activity that follows this one"
        return self.__class__(
            company=self.company,
            activity_type='call',
            direction='out',
            subject=gettext(
                'crm_lifecycle.msg_activity_followup_subject',
                subject=self.subject),
            party=self.party,
            contact=self.contact,
            resource=self.resource,
            employee=self.employee,
            date=datetime.datetime.combine(
                self.followup_date, datetime.time(8)),
            followup_of=self,
            state='planned',
            )

    @classmethod
    @ModelView.button
    @transition('planned')
    def plan(cls, activities):
        pass

    @classmethod
    @ModelView.button
    @transition('done')
    def do(cls, activities):
        followups = [a._get_followup() for a in activities if a.followup_date]
        cls.save(followups)

    @classmethod
    @ModelView.button
    @transition('cancelled')
    def cancel(cls, activities):
        pass


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'log_crm_activity': {
                    'readonly': Eval('id', -1) < 0,
                    'icon': 'tryton-add',
                    'depends': ['id'],
                    },
                })

    @classmethod
    @ModelView.button_action('crm_lifecycle.wizard_activity_log')
    def log_crm_activity(cls, parties):
        pass


class LogActivity(Wizard):
    "Log an activity of the party: one activity, done unless it is to come"
    __name__ = 'crm.activity.log'
    start = StateView(
        'crm.activity', 'crm_lifecycle.activity_view_form_log', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Log", 'log', 'tryton-ok', default=True),
            ])
    log = StateTransition()

    def default_start(self, fields):
        party = self.record
        values = {'party': party.id}
        # the first contact mechanism of the party, by its sequence
        if party.contact_mechanisms:
            values['contact'] = party.contact_mechanisms[0].id
        return values

    @classmethod
    def _log_fields(cls):
        "Return the fields of the activity that the form fills"
        return [
            'company', 'activity_type', 'direction', 'subject', 'contact',
            'resource', 'date', 'duration', 'employee', 'description',
            'followup_date']

    def transition_log(self):
        pool = Pool()
        Activity = pool.get('crm.activity')
        activity = Activity(party=self.record, **{
                n: getattr(self.start, n, None) for n in self._log_fields()})
        activity.save()
        if activity.date <= Activity.default_date():
            Activity.do([activity])
        return 'end'
