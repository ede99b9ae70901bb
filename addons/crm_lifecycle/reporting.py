# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime
import statistics
from collections import defaultdict

from dateutil.relativedelta import relativedelta
from sql import Literal, Null, Union
from sql.aggregate import Count, Min, Sum
from sql.conditionals import Case, Coalesce
from sql.functions import DateTrunc, Round
from trytond.i18n import gettext
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
    """Conversion of the first contacts of the period, grouped by a party
    field: of the parties met, how many reached at least each stage"""
    __slots__ = ()
    _group_field = None

    contacts = fields.Integer("First Contacts")
    leads = fields.Integer("Leads")
    quoted = fields.Integer("Quoted")
    customers = fields.Integer("Customers")
    order_amount = Monetary(
        "Order Amount", currency='currency', digits='currency')
    win_rate = fields.Function(
        fields.Float("Win Rate", digits=(1, 4),
            help="The share of the first contacts that became customers."),
        'get_win_rate')
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
        where = party.first_contact_date != Null
        if context.get('from_date'):
            where &= party.first_contact_date >= context['from_date']
        if context.get('to_date'):
            where &= party.first_contact_date <= context['to_date']
        return where

    @classmethod
    def _cohort(cls):
        """Return the query of the cohort's parties with the stage each
        reached at least (0 contact … 3 customer), its first order date and
        its order amount in the company's currency

        The stages come from the company's documents: an order or a posted
        invoice makes a customer, a quotation a quoted party, an
        opportunity a lead, and a stage includes those before it."""
        pool = Pool()
        Party = pool.get('party.party')
        Opportunity = pool.get('sale.opportunity')
        Sale = pool.get('sale.sale')
        Invoice = pool.get('account.invoice')
        Activity = pool.get('crm.activity')
        context = Transaction().context
        company = context.get('company')
        party = Party.__table__()
        opportunity = Opportunity.__table__()
        sale = Sale.__table__()
        invoice = Invoice.__table__()
        activity = Activity.__table__()
        order_states = Party._lifecycle_order_states()
        invoice_states = Party._lifecycle_invoice_states()

        leads = opportunity.select(
            opportunity.party,
            where=opportunity.company == company,
            group_by=opportunity.party)
        quotes = sale.select(
            sale.party,
            where=(sale.company == company) & (sale.quotation_date != Null),
            group_by=sale.party)
        sale_amount = company_amount(
            sale, Coalesce(sale.untaxed_amount_cache, 0),
            Coalesce(sale.sale_date, sale.quotation_date))
        ordered = Union(
            sale_amount.from_item.select(
                sale.party.as_('party'), sale.sale_date.as_('date'),
                sale_amount.amount.as_('amount'),
                where=(sale.company == company)
                & sale.state.in_(order_states)),
            invoice.select(
                invoice.party.as_('party'), invoice.invoice_date.as_('date'),
                Literal(0).as_('amount'),
                where=(invoice.company == company)
                & (invoice.type == 'out')
                & invoice.state.in_(invoice_states)),
            all_=True)
        orders = ordered.select(
            ordered.party.as_('party'),
            Min(ordered.date).as_('date'),
            Sum(ordered.amount).as_('amount'),
            group_by=ordered.party)
        stage = Case(
            (orders.party != Null, Literal(3)),
            (quotes.party != Null, Literal(2)),
            (leads.party != Null, Literal(1)),
            else_=Literal(0))

        # As the upgrade: the companies' own parties and the employees are
        # never contacts, suppliers only with a customer document
        where = cls._cohort_where(party)
        for kind, query in Party._lifecycle_excluded_queries(None):
            if kind == 'internal':
                where &= ~party.id.in_(query)
            else:
                where &= (~party.id.in_(query) | (stage > 0)
                    | party.id.in_(activity.select(
                            activity.party,
                            where=activity.company == company)))
        group = getattr(party, cls._group_field)
        return (party
            .join(leads, 'LEFT', condition=leads.party == party.id)
            .join(quotes, 'LEFT', condition=quotes.party == party.id)
            .join(orders, 'LEFT', condition=orders.party == party.id)
            .select(
                party.id.as_('party'),
                group.as_('group_'),
                party.first_contact_date.as_('first_contact'),
                stage.as_('stage'),
                orders.date.as_('first_order'),
                Coalesce(orders.amount, 0).as_('amount'),
                where=where))

    @classmethod
    def table_query(cls):
        cohort = cls._cohort()

        def reached(rank):
            return Sum(Case(
                    (cohort.stage >= rank, Literal(1)), else_=Literal(0)))
        return cohort.select(
            Min(cohort.party).as_('id'),
            cohort.group_.as_(cls._group_field),
            Count(cohort.party).as_('contacts'),
            reached(1).as_('leads'),
            reached(2).as_('quoted'),
            reached(3).as_('customers'),
            cls.order_amount.sql_cast(Sum(cohort.amount)).as_('order_amount'),
            group_by=[cohort.group_])

    def get_win_rate(self, name):
        if self.contacts:
            return round(self.customers / self.contacts, 4)
        return 0.0

    @classmethod
    def get_median_days(cls, rows, name):
        "Median days from the first contact to the first order, per row"
        cursor = Transaction().connection.cursor()
        cohort = cls._cohort()
        cursor.execute(*cohort.select(
                cohort.group_, cohort.first_contact, cohort.first_order,
                where=cohort.first_order != Null))
        days = defaultdict(list)
        for key, first_contact, ordered in cursor:
            first_contact, ordered = _date(first_contact), _date(ordered)
            # a first contact recorded after the order counts as same day
            days[key].append(max((ordered - first_contact).days, 0))
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
    channel_name = fields.Function(
        fields.Char("Channel Name"), 'get_channel_name')

    def get_channel_name(self, name):
        # the graph shows the value of its x field as it is: the label,
        # in the user's language, and never empty
        if not self.crm_channel:
            return gettext('crm_lifecycle.msg_reporting_no_channel')
        names = dict(self.fields_get(['crm_channel'])
            ['crm_channel']['selection'])
        return names.get(self.crm_channel, self.crm_channel)


class FunnelEvent(FunnelMixin):
    "Conversion by Event"
    __string__ = "Conversion by Event"
    __name__ = 'crm.reporting.funnel.event'
    _group_field = 'crm_event'

    crm_event = fields.Many2One('marketing.campaign', "Event")
    event_name = fields.Function(
        fields.Char("Event Name"), 'get_event_name')

    def get_event_name(self, name):
        if not self.crm_event:
            return gettext('crm_lifecycle.msg_reporting_no_event')
        return self.crm_event.rec_name


class ForecastContext(ModelView):
    __string__ = "CRM Forecast Context"
    __name__ = 'crm.reporting.forecast.context'

    company = fields.Many2One('company.company', "Company", required=True)
    from_month = fields.Date(
        "From Month",
        domain=[
            If(Eval('to_month') & Eval('from_month'),
                ('from_month', '<=', Eval('to_month')),
                ()),
            ],
        help="The expected closings from the month of this day.")
    to_month = fields.Date(
        "To Month",
        domain=[
            If(Eval('from_month') & Eval('to_month'),
                ('to_month', '>=', Eval('from_month')),
                ()),
            ],
        help="The expected closings until the month of this day.")

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_from_month(cls):
        pool = Pool()
        Date = pool.get('ir.date')
        context = Transaction().context
        if 'from_month' in context:
            return context['from_month']
        return Date.today().replace(day=1)

    @classmethod
    def default_to_month(cls):
        pool = Pool()
        Date = pool.get('ir.date')
        context = Transaction().context
        if 'to_month' in context:
            return context['to_month']
        return Date.today().replace(day=1) + relativedelta(months=11)


class Forecast(ModelSQL, ModelView):
    """The open opportunities weighted by their conversion probability, by
    expected month and employee, in the company's currency"""
    __string__ = "Weighted Pipeline Forecast"
    __name__ = 'crm.reporting.forecast'

    company = fields.Many2One('company.company', "Company")
    month = fields.Date("Month", help="The month of the expected closing.")
    month_name = fields.Function(
        fields.Char("Expected Month"), 'get_month_name')
    employee = fields.Many2One('company.employee', "Employee")
    employee_name = fields.Function(
        fields.Char("Employee Name"), 'get_employee_name')
    opportunities = fields.Integer("Opportunities")
    amount = Monetary(
        "Amount", currency='currency', digits='currency',
        help="The estimated revenue of the opportunities.")
    weighted_amount = Monetary(
        "Weighted Amount", currency='currency', digits='currency',
        help="The amounts times the conversion probabilities.")
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"), 'get_currency')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('month', 'ASC NULLS LAST'), ('employee', 'ASC NULLS LAST'),
            ('id', 'ASC')]

    @classmethod
    def _open_states(cls):
        pool = Pool()
        Party = pool.get('party.party')
        return Party._lifecycle_opportunity_open_states()

    @classmethod
    def table_query(cls):
        pool = Pool()
        Company = pool.get('company.company')
        Opportunity = pool.get('sale.opportunity')
        context = Transaction().context
        opportunity = Opportunity.__table__()
        company_id = context.get('company')
        digits = 2
        if company_id is not None and company_id >= 0:
            digits = Company(company_id).currency.digits

        # no expected closing: the opportunity is forecast but not dated
        month = cls.month.sql_cast(DateTrunc('month', opportunity.end_date))
        where = ((opportunity.company == company_id)
            & opportunity.state.in_(cls._open_states()))
        from_month = context.get('from_month')
        if from_month:
            where &= ((opportunity.end_date == Null)
                | (opportunity.end_date >= from_month.replace(day=1)))
        to_month = context.get('to_month')
        if to_month:
            where &= ((opportunity.end_date == Null)
                | (opportunity.end_date < (
                        to_month.replace(day=1) + relativedelta(months=1))))
        amount = company_amount(
            opportunity, Coalesce(opportunity.amount, 0),
            opportunity.start_date)
        probability = cls.amount.sql_cast(opportunity.conversion_probability)

        # grouped outside: PostgreSQL does not see that the month computed
        # with a parameter in the columns is the one in the GROUP BY
        opportunities = amount.from_item.select(
            opportunity.id.as_('id'),
            opportunity.company.as_('company'),
            month.as_('month'),
            opportunity.employee.as_('employee'),
            amount.amount.as_('amount'),
            (amount.amount * probability).as_('weighted_amount'),
            where=where)

        def total(column):
            return Round(cls.amount.sql_cast(Sum(column)), digits)
        return opportunities.select(
            Min(opportunities.id).as_('id'),
            opportunities.company.as_('company'),
            opportunities.month.as_('month'),
            opportunities.employee.as_('employee'),
            Count(opportunities.id).as_('opportunities'),
            total(opportunities.amount).as_('amount'),
            total(opportunities.weighted_amount).as_('weighted_amount'),
            group_by=[opportunities.company, opportunities.month,
                opportunities.employee])

    def get_month_name(self, name):
        pool = Pool()
        Lang = pool.get('ir.lang')
        if not self.month:
            return gettext('crm_lifecycle.msg_reporting_no_month')
        return Lang.get().strftime(self.month, '%B %Y')

    def get_employee_name(self, name):
        if not self.employee:
            return gettext('crm_lifecycle.msg_reporting_no_employee')
        return self.employee.rec_name

    def get_currency(self, name):
        if self.company:
            return self.company.currency.id


class _CompanyAmount:
    "An amount of documents in the company's currency"
    __slots__ = ('from_item', 'amount')


def company_amount(table, amount, date):
    """Return the amount of the documents of table converted to the
    currency of the context's company at date, as upstream's reporting
    does with the currency rates; a document in the company's currency
    needs no rate"""
    pool = Pool()
    Company = pool.get('company.company')
    Currency = pool.get('currency.currency')
    company_id = Transaction().context.get('company')
    currency_id = None
    if company_id is not None and company_id >= 0:
        currency_id = Company(company_id).currency.id
    # sub-queries, not WITH: SQLite takes no WITH in a member of a UNION
    document_rate = Currency.currency_rate_sql()
    company_rate = Currency.currency_rate_sql()

    def rate_at(rate, currency):
        return ((rate.currency == currency)
            & (rate.start_date <= date)
            & ((rate.end_date == Null) | (rate.end_date > date)))
    result = _CompanyAmount()
    result.from_item = (table
        .join(document_rate, 'LEFT',
            condition=rate_at(document_rate, table.currency))
        .join(company_rate, 'LEFT',
            condition=rate_at(company_rate, currency_id)))
    result.amount = Case(
        (table.currency == currency_id, amount),
        else_=amount * company_rate.rate / document_rate.rate)
    return result


def _date(value):
    # SQLite returns the dates of a query as text
    if isinstance(value, str):
        value = datetime.date.fromisoformat(value[:10])
    elif isinstance(value, datetime.datetime):
        value = value.date()
    return value
