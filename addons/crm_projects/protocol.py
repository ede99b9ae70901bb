# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime

from trytond.i18n import gettext
from trytond.model import (
    Index,
    ModelSQL,
    ModelView,
    Workflow,
    fields,
    sequence_ordered,
)
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.report import Report
from trytond.transaction import Transaction, without_check_access

from trytond.modules.crm_lifecycle.common import (
    SafeValuesMixin,
    WorkflowFieldsMixin,
    check_state_fields,
    transition,
)

from .common import sign_off
from .exceptions import ProtocolError, ProtocolLockedError


class ProjectDocumentMixin:
    __slots__ = ()

    project = fields.Many2One(
        'project.work', "Project", required=True, ondelete='CASCADE',
        domain=[
            ('type', '=', 'project'),
            ('company', '=', Eval('company', -1)),
            ])
    company = fields.Many2One('company.company', "Company", required=True)
    party = fields.Function(
        fields.Many2One(
            'party.party', "Party",
            context={
                'company': Eval('company', -1),
                },
            depends={'company'}),
        'on_change_with_party')

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @fields.depends('project', '_parent_project.party')
    def on_change_with_party(self, name=None):
        return self.project.party if self.project else None

    @fields.depends('project', '_parent_project.company')
    def on_change_project(self):
        if self.project and self.project.company:
            self.company = self.project.company


class Agreement(SafeValuesMixin, ProjectDocumentMixin, ModelSQL, ModelView):
    __string__ = "Project Agreement"
    __name__ = 'project.agreement'

    name = fields.Char("Name", required=True)
    date = fields.Date("Date", required=True)
    agreed_by = fields.Many2One(
        'party.contact_mechanism', "Agreed By",
        domain=[
            ('party', '=', Eval('party', -1)),
            ],
        context={
            'company': Eval('company', -1),
            },
        depends={'company'},
        help="The customer contact who agreed.")
    description = fields.Text("Description")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.project, Index.Range())))
        cls._order = [('date', 'DESC'), ('id', 'DESC')]

    @classmethod
    def default_date(cls):
        pool = Pool()
        Date = pool.get('ir.date')
        return Date.today()


class Protocol(
        WorkflowFieldsMixin, SafeValuesMixin, ProjectDocumentMixin, Workflow,
        ModelSQL, ModelView):
    __string__ = "Project Meeting Protocol"
    __name__ = 'project.protocol'
    _rec_name = 'title'

    _states = {
        'readonly': Eval('state') != 'draft',
        }

    title = fields.Char("Title", required=True, states=_states)
    date = fields.Date("Date", required=True, states=_states)
    attendees = fields.Text("Attendees", states=_states)
    topics = fields.Text("Topics", states=_states)
    decisions = fields.Text("Decisions", states=_states)
    action_items = fields.One2Many(
        'project.protocol.action_item', 'protocol', "Action Items")
    acknowledged_by = fields.Many2One(
        'party.contact_mechanism', "Acknowledged By",
        domain=[
            ('party', '=', Eval('party', -1)),
            ],
        context={
            'company': Eval('company', -1),
            },
        depends={'company'},
        states=_states,
        help="The customer contact who acknowledged the protocol.")
    acknowledged_date = fields.Date("Acknowledged On", states=_states)
    state = fields.Selection([
            ('draft', "Draft"),
            ('acknowledged', "Acknowledged"),
            ], "State", required=True, readonly=True, sort=False)

    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.project.states = {
            'readonly': Eval('state') != 'draft',
            }
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.project, Index.Range())))
        cls._order = [('date', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('draft', 'acknowledged'),
            }
        cls._buttons.update({
                'acknowledge': {
                    'invisible': Eval('state') != 'draft',
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_date(cls):
        pool = Pool()
        Date = pool.get('ir.date')
        return Date.today()

    @classmethod
    def default_state(cls):
        return 'draft'

    @classmethod
    def _locked_fields(cls):
        "The fields fixed once the customer acknowledged the protocol"
        return {
            'project', 'company', 'title', 'date', 'attendees', 'topics',
            'decisions', 'acknowledged_by', 'acknowledged_date'}

    @classmethod
    def check_modification(cls, mode, protocols, values=None,
            external=False):
        super().check_modification(
            mode, protocols, values=values, external=external)
        if mode == 'write':
            check_state_fields(
                protocols, values, cls._locked_fields(), ['draft'],
                lambda protocol, field: ProtocolLockedError(gettext(
                        'crm_projects.msg_protocol_locked',
                        protocol=protocol.rec_name, field=field)))

    @classmethod
    def copy(cls, protocols, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('state', 'draft')
        default.setdefault('acknowledged_by', None)
        default.setdefault('acknowledged_date', None)
        return super().copy(protocols, default=default)

    @classmethod
    @ModelView.button
    @transition('acknowledged')
    def acknowledge(cls, protocols):
        sign_off(protocols, 'acknowledged_by', 'acknowledged_date',
            lambda protocol: ProtocolError(gettext(
                    'crm_projects.msg_protocol_acknowledge_contact',
                    protocol=protocol.rec_name)))
        cls.save(protocols)


class ActionItem(
        WorkflowFieldsMixin, SafeValuesMixin, sequence_ordered(), ModelSQL,
        ModelView):
    __string__ = "Protocol Action Item"
    __name__ = 'project.protocol.action_item'
    _rec_name = 'description'

    protocol = fields.Many2One(
        'project.protocol', "Protocol", required=True, ondelete='CASCADE')
    description = fields.Char("Description", required=True)
    owner = fields.Many2One(
        'company.employee', "Owner",
        help="The employee who carries the action item out.")
    due_date = fields.Date("Due Date")
    done = fields.Boolean("Done")
    activity = fields.Many2One(
        'crm.activity', "Follow-up", readonly=True, ondelete='SET NULL',
        help="The planned activity of the owner.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.protocol, Index.Range())))

    @classmethod
    def default_done(cls):
        return False

    @classmethod
    def _workflow_fields(cls):
        return super()._workflow_fields() | {'activity'}

    @classmethod
    def copy(cls, items, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('activity', None)
        default.setdefault('done', False)
        return super().copy(items, default=default)

    @classmethod
    def on_modification(cls, mode, items, field_names=None):
        super().on_modification(mode, items, field_names=field_names)
        if mode == 'create' or (
                mode == 'write' and field_names & {'owner', 'done'}):
            cls.plan_followups(items)
        if mode == 'write' and 'done' in field_names:
            cls.close_followups(items)

    def _get_followup(self):
        "Return the planned activity of the owner"
        pool = Pool()
        Activity = pool.get('crm.activity')
        protocol = self.protocol
        if self.due_date:
            date = datetime.datetime.combine(self.due_date, datetime.time(8))
        else:
            date = datetime.datetime.now().replace(microsecond=0)
        return Activity(
            company=protocol.company,
            activity_type='note',
            direction='internal',
            subject=gettext(
                'crm_projects.msg_action_item_subject',
                description=self.description),
            description=gettext(
                'crm_projects.msg_action_item_description',
                protocol=protocol.rec_name,
                project=protocol.project.rec_name),
            party=protocol.project.party,
            resource=protocol,
            employee=self.owner,
            date=date,
            state='planned',
            )

    @classmethod
    def close_followups(cls, items):
        "Mark done the planned follow-ups of the done action items"
        pool = Pool()
        Activity = pool.get('crm.activity')
        activities = [i.activity for i in cls.browse(items)
            if i.done and i.activity and i.activity.state == 'planned']
        if activities:
            with without_check_access():
                Activity.do(activities)

    @classmethod
    def plan_followups(cls, items):
        "Plan one follow-up per open action item with an owner, only once"
        pool = Pool()
        Activity = pool.get('crm.activity')
        items = [i for i in cls.browse(items)
            if i.owner and not i.activity and not i.done
            and i.protocol.project.party]
        followups = [i._get_followup() for i in items]
        with without_check_access():
            Activity.save(followups)
            for item, activity in zip(items, followups):
                item.activity = activity
            cls.save(items)


class ProtocolReport(Report):
    __name__ = 'project.protocol'
