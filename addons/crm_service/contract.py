# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt
from collections import defaultdict

from sql.aggregate import Sum
from sql.operators import Concat
from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Workflow, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval, If
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction, without_check_access

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

from .exceptions import ContractAccessError, ContractValidationError

# The share of the prepaid hours from which the account manager is asked
# to sell more
UPSELL_USAGE = 0.8


def _hours(value):
    "Convert a summed duration as the backend returns it to hours"
    if not value:
        return 0.0
    if isinstance(value, dt.timedelta):
        return value.total_seconds() / 60 / 60
    # SQLite sums durations as seconds
    return float(value) / 60 / 60


class Contract(
        WorkflowFieldsMixin, SafeValuesMixin, Workflow, ModelSQL,
        ModelView):
    __string__ = "Hour Bank"
    __name__ = 'service.contract'

    _states = {
        'readonly': Eval('state') == 'closed',
        }
    _draft_states = {
        'readonly': Eval('state') != 'draft',
        }

    company = fields.Many2One(
        'company.company', "Company", required=True, states=_draft_states)
    party = fields.Many2One(
        'party.party', "Customer", required=True, ondelete='RESTRICT',
        states=_draft_states,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    start_date = fields.Date(
        "Start Date", required=True, states=_draft_states,
        domain=[
            If(Bool(Eval('end_date')),
                ('start_date', '<=', Eval('end_date')), ()),
            ])
    end_date = fields.Date(
        "End Date", required=True, states=_states,
        domain=[
            If(Bool(Eval('start_date')),
                ('end_date', '>=', Eval('start_date')), ()),
            ],
        help="The last day whose time the prepaid hours cover.")
    hours = fields.Float(
        "Prepaid Hours", digits=(16, 2), required=True, states=_states,
        domain=[
            ('hours', '>', 0),
            ],
        help="The hours the customer paid in advance for the period.")
    account_manager = fields.Many2One(
        'company.employee', "Account Manager", states=_states,
        domain=[
            ('company', '=', Eval('company', -1)),
            ],
        help="Who is asked to sell more hours when the customer has no "
        "account manager of their own.")
    consumed_hours = fields.Function(
        fields.Float(
            "Consumed Hours", digits=(16, 2),
            help="The time logged for the customer in the period: "
            "on tickets and projects."),
        'get_hours')
    remaining_hours = fields.Function(
        fields.Float("Remaining Hours", digits=(16, 2)), 'get_hours')
    usage = fields.Function(
        fields.Float(
            "Usage", digits=(16, 4),
            help="The consumed hours as a share of the prepaid hours."),
        'get_hours')
    upsell_activity = fields.Many2One(
        'crm.activity', "Upsell Follow-up", readonly=True,
        ondelete='SET NULL',
        help="The follow-up planned for the account manager when the "
        "usage reached 80 %.")
    state = fields.Selection([
            ('draft', "Draft"),
            ('running', "Running"),
            ('closed', "Closed"),
            ], "State", required=True, readonly=True, sort=False)

    del _states, _draft_states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t,
                    (t.party, Index.Range()),
                    (t.start_date, Index.Range())),
                Index(t,
                    (t.state, Index.Equality(cardinality='low')),
                    where=t.state == 'running'),
                })
        cls._order = [('start_date', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('draft', 'running'),
            ('running', 'draft'),
            ('running', 'closed'),
            }
        cls._buttons.update({
                'draft': {
                    'invisible': Eval('state') != 'running',
                    'icon': 'tryton-back',
                    'depends': ['state'],
                    },
                'run': {
                    'invisible': Eval('state') != 'draft',
                    'icon': 'tryton-forward',
                    'depends': ['state'],
                    },
                'close': {
                    'invisible': Eval('state') != 'running',
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_start_date(cls):
        return Pool().get('ir.date').today()

    @classmethod
    def default_account_manager(cls):
        return Transaction().context.get('employee')

    @classmethod
    def default_state(cls):
        return 'draft'

    def get_rec_name(self, name):
        return gettext('crm_service.msg_contract_rec_name',
            party=self.party.rec_name if self.party else '',
            start_date=self.start_date or '',
            end_date=self.end_date or '')

    @classmethod
    def search_rec_name(cls, name, clause):
        return [('party.rec_name',) + tuple(clause[1:])]

    @classmethod
    def _workflow_fields(cls):
        return super()._workflow_fields() | {'upsell_activity'}

    @classmethod
    def _draft_only_fields(cls):
        "Return the fields that clients may change only on draft contracts"
        return {'company', 'party', 'start_date'}

    @classmethod
    def check_modification(cls, mode, contracts, values=None, external=False):
        super().check_modification(
            mode, contracts, values=values, external=external)
        if mode == 'write' and client_call(external):
            check_state_fields(
                contracts, values, cls._draft_only_fields(), ['draft'],
                lambda contract, field: ContractAccessError(gettext(
                        'crm_service.msg_contract_draft_only_field',
                        contract=contract.rec_name, field=field)))
            check_state_fields(
                contracts, values, set(cls._fields), ['draft', 'running'],
                lambda contract, field: ContractAccessError(gettext(
                        'crm_service.msg_contract_closed_write',
                        contract=contract.rec_name, field=field)))
        if mode == 'delete':
            for contract in contracts:
                if contract.state != 'draft':
                    raise ContractAccessError(gettext(
                            'crm_service.msg_contract_delete_draft',
                            contract=contract.rec_name))

    @classmethod
    def on_modification(cls, mode, contracts, field_names=None):
        super().on_modification(mode, contracts, field_names=field_names)
        # Started, or more hours or a longer period: the usage changed
        if mode == 'write' and field_names & {'state', 'hours', 'end_date'}:
            enqueue(cls, 'check_upsell',
                [c for c in contracts if c.state == 'running'])

    @classmethod
    def copy(cls, contracts, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('upsell_activity', None)
        default.setdefault('state', cls.default_state())
        return super().copy(contracts, default=default)

    @classmethod
    def validate_fields(cls, contracts, field_names):
        super().validate_fields(contracts, field_names)
        if field_names & {'party', 'company', 'start_date', 'end_date'}:
            cls.check_overlap(
                [c for c in contracts if c.state == 'running'])

    @classmethod
    def check_overlap(cls, contracts):
        "Refuse a second running contract of a customer for the same days"
        contracts = list(contracts)
        if not contracts:
            return
        domain = ['OR']
        for contract in contracts:
            domain.append([
                    ('company', '=', contract.company.id),
                    ('party', '=', contract.party.id),
                    ('start_date', '<=', contract.end_date),
                    ('end_date', '>=', contract.start_date),
                    ])
        with without_check_access():
            others = cls.search([
                    ('state', '=', 'running'),
                    ('id', 'not in', [c.id for c in contracts]),
                    domain,
                    ])
        # the contracts started together do not overlap each other either
        by_party = defaultdict(list)
        for other in others + contracts:
            by_party[other.company.id, other.party.id].append(other)
        for contract in contracts:
            for other in by_party[contract.company.id, contract.party.id]:
                if (other.id != contract.id
                        and other.start_date <= contract.end_date
                        and other.end_date >= contract.start_date):
                    raise ContractValidationError(gettext(
                            'crm_service.msg_contract_overlap',
                            contract=contract.rec_name,
                            other=other.rec_name))

    @classmethod
    def _consumed_queries(cls, contracts):
        """Yield the queries that select (contract id, summed duration) of
        the contracts, grouped by contract: one per source of time that
        consumes the prepaid hours"""
        pool = Pool()
        Ticket = pool.get('service.ticket')
        TimesheetLine = pool.get('timesheet.line')
        contract = cls.__table__()
        ticket = Ticket.__table__()
        line = TimesheetLine.__table__()
        yield contract.join(ticket,
            condition=(ticket.party == contract.party)
            & (ticket.company == contract.company)
            ).join(line, condition=line.work == ticket.work
            ).select(
                contract.id, Sum(line.duration),
                where=reduce_ids(contract.id, [c.id for c in contracts])
                & (line.date >= contract.start_date)
                & (line.date <= contract.end_date),
                group_by=contract.id)

    @classmethod
    def get_hours(cls, contracts, names):
        cursor = Transaction().connection.cursor()
        consumed = defaultdict(float)
        for sub_contracts in grouped_slice(
                contracts, backend.MAX_QUERY_PARAMS):
            for query in cls._consumed_queries(list(sub_contracts)):
                cursor.execute(*query)
                for contract_id, duration in cursor:
                    consumed[contract_id] += _hours(duration)
        result = {n: {} for n in names}
        for contract in contracts:
            used = round(consumed[contract.id], 2)
            hours = contract.hours or 0.0
            values = {
                'consumed_hours': used,
                'remaining_hours': round(hours - used, 2),
                'usage': round(used / hours, 4) if hours else None,
                }
            for name in names:
                result[name][contract.id] = values[name]
        return result

    @classmethod
    def check_upsell(cls, contracts):
        """Plan the upsell follow-up of the running contracts that reached
        UPSELL_USAGE, once per contract (through the queue when a worker
        runs it: see on_modification of timesheet.line)"""
        pool = Pool()
        Activity = pool.get('crm.activity')
        contracts = cls.browse(sorted({c.id for c in contracts}))
        # Two tasks of the same contract: the second waits and finds the
        # follow-up of the first
        lock(contracts)
        contracts = [c for c in contracts
            if c.state == 'running' and not c.upsell_activity]
        reached = [c for c in contracts
            if c.usage is not None and c.usage >= UPSELL_USAGE]
        # the job plans for the account manager whoever logged the time
        with without_check_access():
            employees = cls._get_upsell_employees(reached)
            activities = [c._get_upsell_activity(employees[c.id])
                for c in reached]
            Activity.save(activities)
            with workflow_writes():
                for contract, activity in zip(reached, activities):
                    contract.upsell_activity = activity
                cls.save(reached)

    @classmethod
    def _get_upsell_employees(cls, contracts):
        """Return {contract id: employee} who sells more hours: the
        customer's account manager in the company, else the contract's"""
        pool = Pool()
        Party = pool.get('party.party')
        managers = Party.account_managers_of(
            {(c.company.id, c.party.id) for c in contracts})
        return {
            c.id: managers.get((c.company.id, c.party.id))
            or c.account_manager
            for c in contracts}

    def _get_upsell_activity(self, employee):
        pool = Pool()
        Activity = pool.get('crm.activity')
        return Activity(
            company=self.company,
            activity_type='call',
            direction='out',
            subject=gettext(
                'crm_service.msg_contract_upsell_subject',
                party=self.party.rec_name),
            description=gettext(
                'crm_service.msg_contract_upsell_description',
                contract=self.rec_name,
                consumed=f'{self.consumed_hours:.2f}',
                hours=f'{self.hours:.2f}'),
            party=self.party,
            resource=self,
            employee=employee,
            date=dt.datetime.now().replace(microsecond=0),
            state='planned',
            )

    @classmethod
    def check_upsell_of(cls, companies_parties, dates):
        """Check the running contracts of the (company id, party id) pairs
        that cover one of the dates"""
        if not companies_parties:
            return
        domain = ['OR']
        for company_id, party_id in companies_parties:
            domain.append([
                    ('company', '=', company_id),
                    ('party', '=', party_id),
                    ])
        with without_check_access():
            contracts = cls.search([
                    ('state', '=', 'running'),
                    ('upsell_activity', '=', None),
                    ('start_date', '<=', max(dates)),
                    ('end_date', '>=', min(dates)),
                    domain,
                    ])
        # Follow-ups, not checks: the worker plans them after the commit
        # when it runs, the person logging time does not wait for them
        enqueue(cls, 'check_upsell', contracts)

    @classmethod
    @ModelView.button
    @transition('draft')
    def draft(cls, contracts):
        pass

    @classmethod
    @ModelView.button
    @transition('running')
    def run(cls, contracts):
        pool = Pool()
        Party = pool.get('party.party')
        parties = Party.browse(sorted({c.party.id for c in contracts}))
        # Two contracts of a customer started at the same time: the second
        # waits and sees the first running
        lock(parties)
        cls.check_overlap(cls.browse(contracts))
        touch(parties)

    @classmethod
    @ModelView.button
    @transition('closed')
    def close(cls, contracts):
        pass


class Contract_Project(metaclass=PoolMeta):
    "Project time of the customer consumes the prepaid hours"
    __name__ = 'service.contract'

    @classmethod
    def _consumed_queries(cls, contracts):
        pool = Pool()
        Party = pool.get('party.party')
        TimesheetWork = pool.get('timesheet.work')
        TimesheetLine = pool.get('timesheet.line')
        yield from super()._consumed_queries(contracts)
        # the projects of the customers and the works below them
        tree = Party._crm_project_works(
            sorted({c.party.id for c in contracts}))
        contract = cls.__table__()
        twork = TimesheetWork.__table__()
        line = TimesheetLine.__table__()
        yield contract.join(tree,
            condition=tree.party == contract.party
            ).join(twork,
            condition=Concat('project.work,', tree.id) == twork.origin
            ).join(line, condition=(line.work == twork.id)
            & (line.company == contract.company)
            ).select(
                contract.id, Sum(line.duration),
                where=reduce_ids(contract.id, [c.id for c in contracts])
                & (line.date >= contract.start_date)
                & (line.date <= contract.end_date),
                group_by=contract.id,
                with_=[tree])
