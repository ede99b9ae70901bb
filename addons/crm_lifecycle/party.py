# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime
from collections import defaultdict
from decimal import Decimal

from sql import Column, Null, Union
from sql.aggregate import Max, Min, Sum
from sql.conditionals import Case, Coalesce
from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, fields
from trytond.modules.company.model import (
    CompanyMultiValueMixin,
    CompanyValueMixin,
)
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction

from .common import SafeValuesMixin
from .lifecycle import PartyLifecycleMixin
from .upgrade import PartyLifecycleUpgradeMixin

CHANNELS = [
    (None, ""),
    ('trade_fair', "Trade Fair"),
    ('shop', "Shop"),
    ('phone', "Phone"),
    ('meeting', "Meeting"),
    ('web', "Web"),
    ('email', "E-mail"),
    ('referral', "Referral"),
    ('service', "Service"),
    ]

# The figures stored per party and company (crm.party.figures):
# {field: (column, aggregate over companies)}
STORED_FIGURES = {
    'crm_last_contact': ('last_contact', Max),
    'crm_next_activity': ('next_activity', Min),
    'crm_next_activity_date': ('next_activity_date', Min),
    'crm_open_opportunities': ('open_opportunities', Sum),
    'crm_open_opportunity_amount': ('open_opportunity_amount', Sum),
    'crm_open_quotations': ('open_quotations', Sum),
    'crm_open_quotation_amount': ('open_quotation_amount', Sum),
    'crm_orders_year_amount': ('orders_year_amount', Sum),
    }
FIGURES = [
    'crm_last_contact', 'crm_next_activity', 'crm_next_activity_date',
    'crm_open_opportunities', 'crm_open_opportunity_amount',
    'crm_open_quotations', 'crm_open_quotation_amount',
    'crm_orders_year_amount',
    ]


def channel_field(string="Channel", **kwargs):
    "The channel through which the business came"
    return fields.Selection(CHANNELS, string, sort=False, **kwargs)


class Party(PartyLifecycleUpgradeMixin, PartyLifecycleMixin, SafeValuesMixin,
        CompanyMultiValueMixin, metaclass=PoolMeta):
    __name__ = 'party.party'

    crm_channel = channel_field(
        "First Contact Channel",
        help="How the first contact with the party was made.")
    crm_event = fields.Many2One(
        'marketing.campaign', "First Contact Event", ondelete='RESTRICT',
        help="The trade fair or event where the party was met.")
    first_contact_date = fields.Date("First Contact")
    crm_activities = fields.One2Many(
        'crm.activity', 'party', "Activities")
    crm_timeline = fields.One2Many(
        'crm.timeline', 'party', "Timeline", readonly=True)
    crm_account_manager = fields.MultiValue(fields.Many2One(
            'company.employee', "Account Manager",
            domain=[
                ('company', '=', Eval('context', {}).get('company', -1)),
                ],
            help="The employee who looks after the customer in the "
            "company: the follow-ups of its quotations go to them."))
    crm_account_managers = fields.One2Many(
        'party.party.crm_account_manager', 'party', "Account Managers")
    crm_internal = fields.Function(fields.Boolean(
            "Internal",
            help="The party of a company or of an employee: "
            "no CRM contact."),
        'get_crm_internal', searcher='search_crm_internal')

    crm_last_contact = fields.Function(
        fields.DateTime("Last Contact"), 'get_crm_figures',
        searcher='search_crm_figure')
    crm_next_activity = fields.Function(
        fields.Many2One('crm.activity', "Next Activity"), 'get_crm_figures')
    crm_next_activity_date = fields.Function(
        fields.DateTime("Next Activity On"), 'get_crm_figures',
        searcher='search_crm_figure')
    crm_open_opportunities = fields.Function(
        fields.Integer("Open Opportunities"), 'get_crm_figures',
        searcher='search_crm_figure')
    crm_open_opportunity_amount = fields.Function(Monetary(
            "Expected Amount", currency='currency', digits='currency'),
        'get_crm_figures',
        searcher='search_crm_figure')
    crm_open_quotations = fields.Function(
        fields.Integer("Open Quotations"), 'get_crm_figures',
        searcher='search_crm_figure')
    crm_open_quotation_amount = fields.Function(Monetary(
            "Quoted Amount", currency='currency', digits='currency'),
        'get_crm_figures',
        searcher='search_crm_figure')
    crm_orders_year_amount = fields.Function(Monetary(
            "Orders This Year", currency='currency', digits='currency'),
        'get_crm_figures',
        searcher='search_crm_figure')

    @classmethod
    def __register__(cls, module):
        table_h = cls.__table_handler__(module)
        activation = not table_h.column_exist('lifecycle_stage')
        super().__register__(module)
        # The new columns took their defaults (every party a contact since
        # today): derive them from the documents on activation only, when
        # the history table exists (registered before party)
        if activation:
            cls.derive_lifecycle(
                dormant_days=cls._lifecycle_dormant_days_stored())

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.lifecycle_stage, Index.Equality(
                            cardinality='low'))),
                Index(t,
                    (t.crm_channel, Index.Equality(cardinality='low')),
                    (t.first_contact_date, Index.Range())),
                })
        # upstream's MultiValue reads record by record and cannot search:
        # one query for a list, a sub-query for a search
        cls.crm_account_manager.getter = 'get_crm_account_manager'
        cls.crm_account_manager.searcher = 'search_crm_account_manager'

    @classmethod
    def default_first_contact_date(cls):
        return Pool().get('ir.date').today()

    @classmethod
    def copy(cls, parties, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('crm_activities', None)
        # the copy is another customer: sales chooses its account manager
        default.setdefault('crm_account_managers', None)
        return super().copy(parties, default=default)

    @classmethod
    def get_crm_account_manager(cls, parties, name):
        "Return the account managers in the context's company, in one query"
        pool = Pool()
        Value = pool.get('party.party.crm_account_manager')
        value = Value.__table__()
        cursor = Transaction().connection.cursor()
        company = Transaction().context.get('company')
        managers = {p.id: None for p in parties}
        # as get_multivalue: the company's value before one without company
        company_where = value.company == Null
        if company is not None:
            company_where |= value.company == company
        for sub_ids in map(list, grouped_slice(
                list(managers), backend.MAX_QUERY_PARAMS)):
            cursor.execute(*value.select(
                    value.party, value.company, value.crm_account_manager,
                    where=reduce_ids(value.party, sub_ids) & company_where,
                    order_by=[value.id]))
            without = {}
            for party_id, company_id, employee_id in cursor:
                if company_id is None:
                    without.setdefault(party_id, employee_id)
                else:
                    managers[party_id] = employee_id
            for party_id, employee_id in without.items():
                if managers[party_id] is None:
                    managers[party_id] = employee_id
        return managers

    @classmethod
    def account_managers_of(cls, keys):
        """Return {(company id, party id): employee} of the account managers
        (None when not set), one query per company"""
        pool = Pool()
        Employee = pool.get('company.employee')
        company2parties = defaultdict(set)
        for company_id, party_id in keys:
            company2parties[company_id].add(party_id)
        managers = {}
        for company_id, party_ids in company2parties.items():
            with Transaction().set_context(company=company_id):
                values = cls.get_crm_account_manager(
                    cls.browse(sorted(party_ids)), 'crm_account_manager')
            for party_id, employee_id in values.items():
                managers[company_id, party_id] = (
                    Employee(employee_id) if employee_id is not None
                    else None)
        return managers

    @classmethod
    def _plan_dormant_followups(cls, parties):
        """Plan a call for the account managers of the customers gone
        dormant, in each company where they have one"""
        pool = Pool()
        Activity = pool.get('crm.activity')
        Date = pool.get('ir.date')
        Value = pool.get('party.party.crm_account_manager')
        super()._plan_dormant_followups(parties)
        value = Value.__table__()
        cursor = Transaction().connection.cursor()
        parties = {p.id: p for p in parties}
        rows = []
        for sub_ids in map(list, grouped_slice(
                list(parties), backend.MAX_QUERY_PARAMS)):
            cursor.execute(*value.select(
                    value.company, value.party, value.crm_account_manager,
                    where=reduce_ids(value.party, sub_ids)
                    & (value.company != Null)
                    & (value.crm_account_manager != Null),
                    order_by=[value.company, value.party]))
            rows.extend(cursor)
        today = {}
        for company_id in {c for c, _, _ in rows}:
            with Transaction().set_context(company=company_id):
                today[company_id] = Date.today()
        activities = [Activity(
                company=company_id,
                activity_type='call',
                direction='out',
                subject=gettext(
                    'crm_lifecycle.msg_dormant_followup_subject',
                    party=parties[party_id].rec_name),
                party=parties[party_id],
                employee=employee_id,
                date=datetime.datetime.combine(
                    today[company_id], datetime.time(8)),
                state='planned')
            for company_id, party_id, employee_id in rows]
        Activity.save(activities)

    @classmethod
    def _crm_account_manager_join(cls, tables):
        "Return the tables of the value of the context's company"
        pool = Pool()
        Value = pool.get('party.party.crm_account_manager')
        party, _ = tables[None]
        if 'crm_account_manager' not in tables:
            value = Value.__table__()
            company = Transaction().context.get('company') or -1
            tables['crm_account_manager'] = {
                None: (value, (value.party == party.id)
                    & (value.company == company)),
                }
        return tables['crm_account_manager']

    @classmethod
    def order_crm_account_manager(cls, tables):
        pool = Pool()
        Value = pool.get('party.party.crm_account_manager')
        return Value.crm_account_manager.convert_order(
            'crm_account_manager', cls._crm_account_manager_join(tables),
            Value)

    @classmethod
    def search_crm_account_manager(cls, name, clause):
        "Search the account managers of the context's company"
        company = Transaction().context.get('company') or -1
        _, operator, operand, *extra = clause
        nested = clause[0][len(name):]
        company = [('company', '=', company)]
        # the parties without value have no account manager: a clause
        # that None satisfies is the negation of its opposite
        if not nested and operand is None and operator in {'=', '!='}:
            return [('crm_account_managers',
                    'not where' if operator == '=' else 'where',
                    company + [('crm_account_manager', '!=', None)])]
        if not nested and operator in {'!=', 'not in'}:
            return [('crm_account_managers', 'not where', company + [
                        ('crm_account_manager',
                            '=' if operator == '!=' else 'in', operand)])]
        return [('crm_account_managers', 'where', company + [
                    ('crm_account_manager' + nested, operator, operand,
                        *extra)])]

    @classmethod
    def _crm_internal_query(cls):
        "Return the query of the ids of the companies' and employees' parties"
        pool = Pool()
        Company = pool.get('company.company')
        Employee = pool.get('company.employee')
        company = Company.__table__()
        employee = Employee.__table__()
        return Union(
            company.select(company.party, where=company.party != Null),
            employee.select(employee.party, where=employee.party != Null))

    @classmethod
    def get_crm_internal(cls, parties, name):
        cursor = Transaction().connection.cursor()
        internal = cls._crm_internal_query()
        result = {p.id: False for p in parties}
        for sub_ids in map(list, grouped_slice(
                list(result), backend.MAX_QUERY_PARAMS)):
            cursor.execute(*internal.select(internal.party,
                    where=reduce_ids(internal.party, sub_ids)))
            result.update((i, True) for i, in cursor)
        return result

    @classmethod
    def search_crm_internal(cls, name, clause):
        _, operator, value = clause[:3]
        if operator not in {'=', '!='}:
            return []
        internal = bool(value) == (operator == '=')
        return [('id', 'in' if internal else 'not in',
                cls._crm_internal_query())]

    @classmethod
    def _crm_figure_queries(cls, party_ids, names):
        """Yield (query, columns) pairs: each query selects the party id and
        one value per column, grouped by party."""
        pool = Pool()
        PartyFigures = pool.get('crm.party.figures')
        figures = PartyFigures.__table__()
        company = Transaction().context.get('company')
        columns = [n for n in STORED_FIGURES if n in names]
        if not columns:
            return
        where = reduce_ids(figures.party, party_ids)
        if company:
            where &= figures.company == company
        # one row per party with a company, the sum of the companies without
        yield figures.select(figures.party,
            *(cls._crm_stored_figure(figures, n) for n in columns),
            where=where, group_by=figures.party), columns

    @classmethod
    def _crm_stored_figure(cls, figures, name, aggregate=True):
        "Return the expression of the figure name in the figures table"
        pool = Pool()
        Date = pool.get('ir.date')
        column, function = STORED_FIGURES[name]
        value = Column(figures, column)
        if name == 'crm_orders_year_amount':
            # stored for the year of the last change of the party's orders
            value = Case(
                (figures.orders_year == Date.today().year, value), else_=0)
        return function(value) if aggregate else value

    @classmethod
    def _crm_figures_join(cls, tables):
        "Return the figures table of the context's company joined to tables"
        pool = Pool()
        PartyFigures = pool.get('crm.party.figures')
        party, _ = tables[None]
        if 'crm_figures' not in tables:
            figures = PartyFigures.__table__()
            company = Transaction().context.get('company') or -1
            tables['crm_figures'] = {
                None: (figures, (figures.party == party.id)
                    & (figures.company == company)),
                }
        figures, _ = tables['crm_figures'][None]
        return figures

    @classmethod
    def _crm_order_figure(cls, name, tables):
        figures = cls._crm_figures_join(tables)
        value = cls._crm_stored_figure(figures, name, aggregate=False)
        default = cls._crm_figure_defaults().get(name)
        if default is not None:
            value = Coalesce(value, default)
        return [value]

    @classmethod
    def order_crm_last_contact(cls, tables):
        return cls._crm_order_figure('crm_last_contact', tables)

    @classmethod
    def order_crm_next_activity_date(cls, tables):
        return cls._crm_order_figure('crm_next_activity_date', tables)

    @classmethod
    def order_crm_open_opportunity_amount(cls, tables):
        return cls._crm_order_figure('crm_open_opportunity_amount', tables)

    @classmethod
    def order_crm_open_quotation_amount(cls, tables):
        return cls._crm_order_figure('crm_open_quotation_amount', tables)

    @classmethod
    def order_crm_orders_year_amount(cls, tables):
        return cls._crm_order_figure('crm_orders_year_amount', tables)

    @classmethod
    def search_crm_figure(cls, name, clause):
        pool = Pool()
        PartyFigures = pool.get('crm.party.figures')
        party = cls.__table__()
        figures = PartyFigures.__table__()
        company = Transaction().context.get('company') or -1
        _, operator, value = clause[:3]
        Operator = fields.SQL_OPERATORS[operator]
        field = cls._fields[name]
        if operator in {'in', 'not in'}:
            value = [field.sql_format(v) for v in value]
        else:
            value = field.sql_format(value)
        column = cls._crm_stored_figure(figures, name, aggregate=False)
        default = cls._crm_figure_defaults().get(name)
        if default is not None:
            column = Coalesce(column, default)
        query = party.join(figures, 'LEFT',
            condition=(figures.party == party.id)
            & (figures.company == company)).select(
            party.id,
            where=Operator(column, value))
        return [('id', 'in', query)]

    @classmethod
    def _crm_figure_defaults(cls):
        "Return the value of each figure for a party without documents"
        return {
            'crm_open_opportunities': 0,
            'crm_open_quotations': 0,
            'crm_open_opportunity_amount': Decimal(0),
            'crm_open_quotation_amount': Decimal(0),
            'crm_orders_year_amount': Decimal(0),
            }

    @classmethod
    def get_crm_figures(cls, parties, names):
        cursor = Transaction().connection.cursor()
        names = set(names)
        defaults = cls._crm_figure_defaults()
        values = defaultdict(dict)
        ids = [p.id for p in parties]
        for sub_ids in map(list, grouped_slice(
                ids, backend.MAX_QUERY_PARAMS)):
            for query, columns in cls._crm_figure_queries(sub_ids, names):
                cursor.execute(*query)
                for party_id, *row in cursor:
                    for column, value in zip(columns, row):
                        values[column][party_id] = cls._crm_figure_value(
                            column, value)
        digits = cls._crm_currency_digits()
        figures = {}
        for name in names:
            default = defaults.get(name)
            figures[name] = {
                i: values[name].get(i, default) for i in ids}
            if digits is not None and isinstance(default, Decimal):
                exp = Decimal(1).scaleb(-digits)
                figures[name] = {
                    i: v.quantize(exp) for i, v in figures[name].items()}
        return figures

    @classmethod
    def _crm_figure_value(cls, name, value):
        "Convert a value as the database returns it to the field's type"
        type_ = cls._fields[name]._type
        if type_ == 'numeric':
            return Decimal(str(value or 0))
        elif type_ == 'integer':
            return int(value or 0)
        elif value is None:
            return None
        elif type_ == 'datetime' and isinstance(value, str):
            return datetime.datetime.fromisoformat(value)
        elif type_ == 'date' and isinstance(value, str):
            return datetime.date.fromisoformat(value)
        elif type_ == 'timedelta' and not isinstance(
                value, datetime.timedelta):
            return datetime.timedelta(seconds=value)
        return value

    @classmethod
    def _crm_currency_digits(cls):
        pool = Pool()
        Company = pool.get('company.company')
        company = Transaction().context.get('company')
        if company:
            return Company(company).currency.digits


class PartyAccountManager(SafeValuesMixin, ModelSQL, CompanyValueMixin):
    __string__ = "Party Account Manager"
    __name__ = 'party.party.crm_account_manager'

    party = fields.Many2One(
        'party.party', "Party", ondelete='CASCADE', required=True,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    crm_account_manager = fields.Many2One(
        'company.employee', "Account Manager",
        domain=[
            ('company', '=', Eval('company', -1)),
            ])

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t,
                    (t.party, Index.Range()),
                    (t.company, Index.Range())),
                # My Customers: the parties of an employee
                Index(t,
                    (t.crm_account_manager, Index.Range()),
                    (t.company, Index.Range())),
                })


class Replace(metaclass=PoolMeta):
    __name__ = 'party.replace'

    @classmethod
    def fields_to_replace(cls):
        return super().fields_to_replace() + [
            ('crm.activity', 'party'),
            ('crm.lifecycle.history', 'party'),
            ('crm.timeline', 'party'),
            ]

    def transition_replace(self):
        pool = Pool()
        Party = pool.get('party.party')
        PartyFigures = pool.get('crm.party.figures')
        source, destination = self.ask.source, self.ask.destination
        parties = [source.id, destination.id]
        state = super().transition_replace()
        # the documents moved with their tables' party columns
        PartyFigures.refresh(parties)
        destination, = Party.browse([destination.id])
        self._replace_first_contact(source, destination)
        # the kept party is at least as far as the documents it received
        Party.update_lifecycle_stage([destination], reactivate=True)
        return state

    @classmethod
    def _replace_first_contact(cls, source, destination):
        "The earlier first contact, with its channel and event, is kept"
        pool = Pool()
        Party = pool.get('party.party')
        fields_ = ['first_contact_date', 'crm_channel', 'crm_event']
        if source.first_contact_date and (
                not destination.first_contact_date
                or source.first_contact_date
                < destination.first_contact_date):
            first, other = source, destination
        else:
            first, other = destination, source
        values = {}
        for name in fields_:
            value = getattr(first, name) or getattr(other, name)
            if value != getattr(destination, name):
                values[name] = getattr(value, 'id', value)
        if values:
            Party.write([destination], values)


class ReplaceAsk(metaclass=PoolMeta):
    __name__ = 'party.replace.ask'

    @classmethod
    def default_destination(cls):
        "With two parties selected, the other one replaces the current one"
        context = Transaction().context
        if context.get('active_model') == 'party.party':
            others = set(context.get('active_ids') or []) - {
                context.get('active_id')}
            if len(others) == 1:
                return others.pop()

