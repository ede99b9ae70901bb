# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime
import statistics
from collections import defaultdict

from dateutil.relativedelta import relativedelta
from sql import Literal, Null
from sql.aggregate import Count, Min, Sum
from sql.conditionals import Case, Coalesce
from trytond.model import ModelSQL, ModelView, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool
from trytond.pyson import Eval, If
from trytond.transaction import Transaction

from .common import CompanyCurrencyMixin
from .party import CHANNELS


class Context(ModelView):
    __string__ = "CRM Reporting Context"
    __name__ = 'crm.reporting.context'

    company = fields.Many2One('company.company', "Company", required=True)
    from_date = fields.Date(
        "From Date",
        domain=[
            If(Eval('to_date') & Eval('from_date'),
                ('from_date', '<=', Eval('to_date')),
                ()),
            ],
        help="First contacts made from this day.")
    to_date = fields.Date(
        "To Date",
        domain=[
            If(Eval('from_date') & Eval('to_date'),
                ('to_date', '>=', Eval('from_date')),
                ()),
            ],
        help="First contacts made until this day.")

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_from_date(cls):
        pool = Pool()
        Date = pool.get('ir.date')
        context = Transaction().context
        if 'from_date' in context:
            return context['from_date']
        return Date.today() - relativedelta(years=1)

    @classmethod
    def default_to_date(cls):
        pool = Pool()
        Date = pool.get('ir.date')
        context = Transaction().context
        if 'to_date' in context:
            return context['to_date']
        return Date.today()


class FunnelMixin(CompanyCurrencyMixin, ModelSQL, ModelView):
    "Conversion of first contacts grouped by a party field"
    __slots__ = ()
    _group_field = None

    contacts = fields.Integer("First Contacts")
    leads = fields.Integer("Leads")
    quoted = fields.Integer("Quoted")
    customers = fields.Integer("Customers")
    order_amount = Monetary(
        "Order Amount", currency='currency', digits='currency')
    win_rate = fields.Function(
        fields.Float("Win Rate", digits=(1, 4)), 'get_win_rate')
    median_days = fields.Function(
        fields.Float("Median Days to Order", digits=(16, 1),
            help="From the first contact to the first order."),
        'get_median_days')
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"), 'get_currency')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('contacts', 'DESC'), ('id', 'ASC')]

    @classmethod
    def _cohort_where(cls, party):
        context = Transaction().context
        where = Literal(True)
        if context.get('from_date'):
            where &= party.first_contact_date >= context['from_date']
        if context.get('to_date'):
            where &= party.first_contact_date <= context['to_date']
        return where

    @classmethod
    def table_query(cls):
        pool = Pool()
        Party = pool.get('party.party')
        Opportunity = pool.get('sale.opportunity')
        Sale = pool.get('sale.sale')
        context = Transaction().context
        company = context.get('company')
        party = Party.__table__()
        opportunity = Opportunity.__table__()
        sale = Sale.__table__()
        order_states = Party._lifecycle_order_states()

        leads = opportunity.select(
            opportunity.party,
            where=opportunity.company == company,
            group_by=opportunity.party)
        sales = sale.select(
            sale.party,
            Sum(Case(
                    (sale.quotation_date != Null, Literal(1)),
                    else_=Literal(0))).as_('quoted'),
            Sum(Case(
                    (sale.state.in_(order_states), Literal(1)),
                    else_=Literal(0))).as_('ordered'),
            Sum(Case(
                    (sale.state.in_(order_states),
                        Coalesce(sale.untaxed_amount_cache, 0)),
                    else_=Literal(0))).as_('amount'),
            where=sale.company == company,
            group_by=sale.party)
        group = getattr(party, cls._group_field)
        return (party
            .join(leads, 'LEFT', condition=leads.party == party.id)
            .join(sales, 'LEFT', condition=sales.party == party.id)
            .select(
                Min(party.id).as_('id'),
                group.as_(cls._group_field),
                Count(party.id).as_('contacts'),
                Count(leads.party).as_('leads'),
                Sum(Case((sales.quoted > 0, Literal(1)),
                        else_=Literal(0))).as_('quoted'),
                Sum(Case((sales.ordered > 0, Literal(1)),
                        else_=Literal(0))).as_('customers'),
                Sum(Coalesce(sales.amount, 0)).as_('order_amount'),
                where=cls._cohort_where(party)
                & (party.first_contact_date != Null),
                group_by=[group]))

    def get_win_rate(self, name):
        if self.leads:
            return round(self.customers / self.leads, 4)
        return 0.0

    @classmethod
    def get_median_days(cls, rows, name):
        "Median days from first contact to the first order, per row"
        pool = Pool()
        Party = pool.get('party.party')
        History = pool.get('crm.lifecycle.history')
        cursor = Transaction().connection.cursor()
        party = Party.__table__()
        history = History.__table__()
        group = getattr(party, cls._group_field)
        cursor.execute(*party.join(
                history, condition=history.party == party.id).select(
                group, party.first_contact_date, Min(history.date),
                where=cls._cohort_where(party)
                & (history.to_stage == 'customer'),
                group_by=[party.id, group, party.first_contact_date]))
        days = defaultdict(list)
        for key, first_contact, ordered in cursor:
            if isinstance(first_contact, str):
                first_contact = datetime.date.fromisoformat(first_contact)
            if isinstance(ordered, str):
                ordered = datetime.datetime.fromisoformat(ordered)
            if first_contact and ordered:
                days[key].append(max((ordered.date() - first_contact).days, 0))
        result = {}
        for row in rows:
            key = getattr(row, cls._group_field)
            key = getattr(key, 'id', key)
            values = days.get(key)
            result[row.id] = (
                float(statistics.median(values)) if values else None)
        return result


class FunnelChannel(FunnelMixin):
    "Conversion by Channel"
    __string__ = "Conversion by Channel"
    __name__ = 'crm.reporting.funnel.channel'
    _group_field = 'crm_channel'

    crm_channel = fields.Selection(CHANNELS, "Channel", sort=False)


class FunnelEvent(FunnelMixin):
    "Conversion by Event"
    __string__ = "Conversion by Event"
    __name__ = 'crm.reporting.funnel.event'
    _group_field = 'crm_event'

    crm_event = fields.Many2One('marketing.campaign', "Event")
