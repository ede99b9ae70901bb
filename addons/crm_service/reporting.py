# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt
import statistics
from collections import defaultdict
from decimal import Decimal

from sql import Cast, Literal, Null
from sql.aggregate import Count, Max, Min, Sum
from sql.conditionals import Case, Coalesce
from sql.functions import Extract
from sql.operators import Concat
from trytond.model import ModelSQL, ModelView, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.tools import reduce_ids
from trytond.transaction import Transaction, without_check_access

from trytond.modules.crm_lifecycle.common import CompanyCurrencyMixin

from .sla import PRIORITIES

AGES = [
    ('0-1', "0-1 Day"),
    ('2-7', "2-7 Days"),
    ('8-30', "8-30 Days"),
    ('31+', "More than 30 Days"),
    ]


def _datetime(value):
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value


def _start(date):
    return dt.datetime.combine(date, dt.time())


def _end(date):
    return dt.datetime.combine(date + dt.timedelta(days=1), dt.time())


class Handover(CompanyCurrencyMixin, ModelSQL, ModelView):
    "Service-originated Business"
    __string__ = "Service-originated Business"
    __name__ = 'service.reporting.handover'

    team = fields.Many2One('service.team', "Team")
    employee = fields.Many2One('company.employee', "Employee")
    opportunities = fields.Integer("Opportunities")
    orders = fields.Integer("Orders")
    revenue = Monetary("Revenue", currency='currency', digits='currency')
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"), 'get_currency')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('opportunities', 'DESC'), ('id', 'ASC')]

    @classmethod
    def table_query(cls):
        pool = Pool()
        Ticket = pool.get('service.ticket')
        Opportunity = pool.get('sale.opportunity')
        Sale = pool.get('sale.sale')
        Party = pool.get('party.party')
        context = Transaction().context
        company = context.get('company')
        ticket = Ticket.__table__()
        opportunity = Opportunity.__table__()
        sale = Sale.__table__()

        sales = sale.select(
            sale.origin,
            Count(sale.id).as_('orders'),
            Sum(Coalesce(sale.untaxed_amount_cache, 0)).as_('revenue'),
            where=(sale.company == company)
            & sale.state.in_(Party._lifecycle_order_states())
            & sale.origin.like('sale.opportunity,%'),
            group_by=sale.origin)
        where = (ticket.company == company)
        where &= opportunity.crm_origin.like('service.ticket,%')
        if context.get('from_date'):
            where &= opportunity.start_date >= context['from_date']
        if context.get('to_date'):
            where &= opportunity.start_date <= context['to_date']
        return (ticket
            .join(opportunity, condition=opportunity.crm_origin == Concat(
                    'service.ticket,', Cast(ticket.id, 'VARCHAR')))
            .join(sales, 'LEFT', condition=sales.origin == Concat(
                    'sale.opportunity,', Cast(opportunity.id, 'VARCHAR')))
            .select(
                Min(ticket.id).as_('id'),
                ticket.team.as_('team'),
                ticket.assignee.as_('employee'),
                Count(opportunity.id).as_('opportunities'),
                # PostgreSQL sums a count as numeric
                Cast(Sum(Coalesce(sales.orders, 0)), 'INTEGER').as_('orders'),
                Sum(Coalesce(sales.revenue, 0)).as_('revenue'),
                where=where,
                group_by=[ticket.team, ticket.assignee]))


class SLACompliance(ModelSQL, ModelView):
    "SLA Compliance"
    __string__ = "SLA Compliance"
    __name__ = 'service.reporting.sla'

    team = fields.Many2One('service.team', "Team")
    priority = fields.Selection(PRIORITIES, "Priority", sort=False)
    year = fields.Integer("Year")
    month = fields.Integer("Month")
    period = fields.Function(fields.Char("Period"), 'get_period')
    tickets = fields.Integer("Tickets")
    breached = fields.Integer("Breached")
    compliance = fields.Function(
        fields.Float("Compliance", digits=(1, 4)), 'get_compliance')
    median_response_hours = fields.Function(
        fields.Float("Median First Response Hours", digits=(16, 1)),
        'get_medians')
    median_resolution_hours = fields.Function(
        fields.Float("Median Resolution Hours", digits=(16, 1)),
        'get_medians')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('year', 'DESC'), ('month', 'DESC'), ('team', 'ASC'),
            ('id', 'ASC')]

    @classmethod
    def _where(cls, ticket):
        context = Transaction().context
        where = ticket.company == context.get('company')
        if context.get('from_date'):
            where &= ticket.reported_date >= _start(context['from_date'])
        if context.get('to_date'):
            where &= ticket.reported_date < _end(context['to_date'])
        return where

    @classmethod
    def _decided(cls, ticket):
        """Return the condition of the tickets whose SLA target is decided:
        breached, or met because the ticket is resolved in time.

        A ticket still running within its deadlines is neither."""
        return ((ticket.sla_state == 'breached')
            | ((ticket.sla_state != Null) & (ticket.resolved_date != Null)))

    @classmethod
    def table_query(cls):
        pool = Pool()
        Ticket = pool.get('service.ticket')
        ticket = Ticket.__table__()
        year = Cast(Extract('YEAR', ticket.reported_date), 'INTEGER')
        month = Cast(Extract('MONTH', ticket.reported_date), 'INTEGER')
        return ticket.select(
            Min(ticket.id).as_('id'),
            ticket.team.as_('team'),
            ticket.priority.as_('priority'),
            year.as_('year'),
            month.as_('month'),
            Count(ticket.id).as_('tickets'),
            Sum(Case((ticket.sla_state == 'breached', Literal(1)),
                    else_=Literal(0))).as_('breached'),
            where=cls._where(ticket) & cls._decided(ticket),
            group_by=[ticket.team, ticket.priority, year, month])

    def get_period(self, name):
        if self.year and self.month:
            return f'{int(self.year):04d}-{int(self.month):02d}'

    def get_compliance(self, name):
        if self.tickets:
            return round(1 - (self.breached or 0) / self.tickets, 4)

    @classmethod
    def get_medians(cls, rows, names):
        "Compute the medians of all rows from a single query"
        pool = Pool()
        Ticket = pool.get('service.ticket')
        ticket = Ticket.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*ticket.select(
                ticket.team, ticket.priority, ticket.reported_date,
                ticket.first_response_date, ticket.resolved_date,
                where=cls._where(ticket) & cls._decided(ticket)
                & ((ticket.first_response_date != Null)
                    | (ticket.resolved_date != Null))))
        responses, resolutions = defaultdict(list), defaultdict(list)
        for team, priority, reported, responded, resolved in cursor:
            reported = _datetime(reported)
            key = (team, priority, reported.year, reported.month)
            if responded:
                responses[key].append(
                    (_datetime(responded) - reported).total_seconds() / 3600)
            if resolved:
                resolutions[key].append(
                    (_datetime(resolved) - reported).total_seconds() / 3600)
        result = {n: {} for n in names}
        for row in rows:
            key = (row.team.id if row.team else None, row.priority,
                int(row.year), int(row.month))
            for name, values in [
                    ('median_response_hours', responses),
                    ('median_resolution_hours', resolutions)]:
                if name in result:
                    hours = values.get(key)
                    result[name][row.id] = (
                        round(statistics.median(hours), 1)
                        if hours else None)
        return result


class Backlog(ModelSQL, ModelView):
    "Ticket Backlog"
    __string__ = "Ticket Backlog"
    __name__ = 'service.reporting.backlog'

    team = fields.Many2One('service.team', "Team")
    age = fields.Selection(AGES, "Age", sort=False)
    tickets = fields.Integer("Tickets")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('team', 'ASC'), ('age', 'ASC'), ('id', 'ASC')]

    @classmethod
    def table_query(cls):
        pool = Pool()
        Ticket = pool.get('service.ticket')
        ticket = Ticket.__table__()
        context = Transaction().context
        now = Ticket._now()
        day = dt.timedelta(days=1)
        age = Case(
            (ticket.reported_date > now - 2 * day, '0-1'),
            (ticket.reported_date > now - 8 * day, '2-7'),
            (ticket.reported_date > now - 31 * day, '8-30'),
            else_='31+')
        # group on a sub-query column: the parameters of the buckets would
        # differ between the select and the group by
        tickets = ticket.select(
            ticket.id, ticket.team, age.as_('age'),
            where=(ticket.company == context.get('company'))
            & ticket.state.in_(Ticket._open_states()))
        return tickets.select(
            Min(tickets.id).as_('id'),
            tickets.team.as_('team'),
            tickets.age.as_('age'),
            Count(tickets.id).as_('tickets'),
            group_by=[tickets.team, tickets.age])


class RepeatedFault(ModelSQL, ModelView):
    "Repeated Fault"
    __string__ = "Repeated Fault"
    __name__ = 'service.reporting.repeated_fault'

    party = fields.Many2One('party.party', "Customer")
    product = fields.Many2One('product.product', "Product")
    tickets = fields.Integer("Fault Tickets")
    last_reported_date = fields.DateTime("Last Reported On")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('tickets', 'DESC'), ('id', 'ASC')]

    @classmethod
    def table_query(cls):
        pool = Pool()
        Ticket = pool.get('service.ticket')
        Date = pool.get('ir.date')
        ticket = Ticket.__table__()
        context = Transaction().context
        since = _start(Date.today() - dt.timedelta(days=365))
        return ticket.select(
            Min(ticket.id).as_('id'),
            ticket.party.as_('party'),
            ticket.product.as_('product'),
            Count(ticket.id).as_('tickets'),
            Max(ticket.reported_date).as_('last_reported_date'),
            where=(ticket.company == context.get('company'))
            & (ticket.kind == 'fault')
            & (ticket.party != Null)
            & (ticket.product != Null)
            & (ticket.state != 'cancelled')
            & (ticket.reported_date >= since),
            group_by=[ticket.party, ticket.product],
            having=Count(ticket.id) >= 2)


class ComplaintCostMixin(CompanyCurrencyMixin, ModelSQL, ModelView):
    """Complaints, their internal cost and credit grouped by _key: the
    count and the internal cost summed by SQL, the credit (converted from
    the currencies of its documents) by the complaints' getter"""
    __slots__ = ()
    _key = None

    company = fields.Many2One('company.company', "Company")
    complaints = fields.Integer("Complaints")
    internal_cost = Monetary(
        "Internal Cost", currency='currency', digits='currency')
    credit_amount = fields.Function(Monetary(
            "Credit", currency='currency', digits='currency'),
        'get_credit_amount')
    total_cost = fields.Function(Monetary(
            "Total Cost", currency='currency', digits='currency'),
        'get_credit_amount')
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"), 'get_currency')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('internal_cost', 'DESC'), ('complaints', 'DESC'),
            ('id', 'ASC')]

    @classmethod
    def _where(cls, complaint):
        context = Transaction().context
        where = (complaint.company == context.get('company'))
        where &= complaint.state != 'cancelled'
        if context.get('from_date'):
            where &= complaint.date >= context['from_date']
        if context.get('to_date'):
            where &= complaint.date <= context['to_date']
        return where

    @classmethod
    def table_query(cls):
        pool = Pool()
        Complaint = pool.get('sale.complaint')
        complaint = Complaint.__table__()
        key = getattr(complaint, cls._key)
        return complaint.select(
            Min(complaint.id).as_('id'),
            complaint.company.as_('company'),
            key.as_(cls._key),
            Count(complaint.id).as_('complaints'),
            Sum(Coalesce(complaint.internal_cost, 0)).as_('internal_cost'),
            where=cls._where(complaint),
            group_by=[complaint.company, key])

    @classmethod
    def get_credit_amount(cls, rows, names):
        pool = Pool()
        Complaint = pool.get('sale.complaint')
        complaint = Complaint.__table__()
        cursor = Transaction().connection.cursor()
        key = getattr(complaint, cls._key)
        key2row = {getattr(r, cls._key).id if getattr(r, cls._key) else None:
            r for r in rows}
        keys = [k for k in key2row if k is not None]
        where = reduce_ids(key, keys) if keys else Literal(False)
        if None in key2row:
            where |= key == Null
        cursor.execute(*complaint.select(
                complaint.id, key, where=cls._where(complaint) & where))
        row_complaints = defaultdict(list)
        for complaint_id, key_id in cursor:
            row_complaints[key2row[key_id].id].append(complaint_id)
        with without_check_access():
            complaints = Complaint.browse(
                [c for ids in row_complaints.values() for c in ids])
            credits = Complaint.get_credit_amount(
                complaints, ['credit_amount'])['credit_amount']
        result = {n: {} for n in names}
        for row in rows:
            credit = sum(
                (credits[c] for c in row_complaints[row.id]), Decimal(0))
            if 'credit_amount' in result:
                result['credit_amount'][row.id] = credit
            if 'total_cost' in result:
                result['total_cost'][row.id] = (
                    (row.internal_cost or Decimal(0)) + credit)
        return result


class ComplaintCause(ComplaintCostMixin):
    "Complaint Cost per Cause"
    __string__ = "Complaint Cost per Cause"
    __name__ = 'service.reporting.complaint.cause'
    _key = 'cause'

    cause = fields.Many2One('sale.complaint.cause', "Cause")


class ComplaintProduct(ComplaintCostMixin):
    "Complaint Cost per Product"
    __string__ = "Complaint Cost per Product"
    __name__ = 'service.reporting.complaint.product'
    _key = 'product'

    product = fields.Many2One(
        'product.product', "Product",
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})


class ComplaintCustomer(ComplaintCostMixin):
    "Complaint Cost per Customer"
    __string__ = "Complaint Cost per Customer"
    __name__ = 'service.reporting.complaint.customer'
    _key = 'customer'

    customer = fields.Many2One(
        'party.party', "Customer",
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
