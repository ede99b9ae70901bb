# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime
from collections import defaultdict
from decimal import Decimal

from sql.aggregate import Count, Max, Min, Sum
from sql.conditionals import Coalesce
from trytond import backend
from trytond.model import Index, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
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
        metaclass=PoolMeta):
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

    crm_last_contact = fields.Function(
        fields.DateTime("Last Contact"), 'get_crm_figures')
    crm_next_activity = fields.Function(
        fields.Many2One('crm.activity', "Next Activity"), 'get_crm_figures')
    crm_next_activity_date = fields.Function(
        fields.DateTime("Next Activity On"), 'get_crm_figures')
    crm_open_opportunities = fields.Function(
        fields.Integer("Open Opportunities"), 'get_crm_figures')
    crm_open_opportunity_amount = fields.Function(Monetary(
            "Expected Amount", currency='currency', digits='currency'),
        'get_crm_figures')
    crm_open_quotations = fields.Function(
        fields.Integer("Open Quotations"), 'get_crm_figures')
    crm_open_quotation_amount = fields.Function(Monetary(
            "Quoted Amount", currency='currency', digits='currency'),
        'get_crm_figures')
    crm_orders_year_amount = fields.Function(Monetary(
            "Orders This Year", currency='currency', digits='currency'),
        'get_crm_figures')

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

    @classmethod
    def default_first_contact_date(cls):
        return Pool().get('ir.date').today()

    @classmethod
    def copy(cls, parties, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('crm_activities', None)
        return super().copy(parties, default=default)

    @classmethod
    def _crm_figure_queries(cls, party_ids, names):
        """Yield (query, columns) pairs: each query selects the party id and
        one value per column, grouped by party."""
        pool = Pool()
        Activity = pool.get('crm.activity')
        Opportunity = pool.get('sale.opportunity')
        Sale = pool.get('sale.sale')
        SaleLine = pool.get('sale.line')
        Date = pool.get('ir.date')
        company = Transaction().context.get('company')
        activity = Activity.__table__()
        opportunity = Opportunity.__table__()
        sale = Sale.__table__()
        line = SaleLine.__table__()

        activity_where = reduce_ids(activity.party, party_ids)
        if company:
            activity_where &= activity.company == company
        if 'crm_last_contact' in names:
            yield activity.select(
                activity.party, Max(activity.date),
                where=activity_where & (activity.state == 'done'),
                group_by=activity.party), ['crm_last_contact']
        if names & {'crm_next_activity', 'crm_next_activity_date'}:
            yield activity.select(
                activity.party, Min(activity.date),
                where=activity_where & (activity.state == 'planned'),
                group_by=activity.party), ['crm_next_activity_date']

        opportunity_where = (reduce_ids(opportunity.party, party_ids)
            & opportunity.state.in_(
                cls._lifecycle_opportunity_open_states()))
        if company:
            opportunity_where &= opportunity.company == company
        if names & {'crm_open_opportunities', 'crm_open_opportunity_amount'}:
            yield opportunity.select(
                opportunity.party, Count(opportunity.id),
                Sum(Coalesce(opportunity.amount, 0)),
                where=opportunity_where,
                group_by=opportunity.party), [
                'crm_open_opportunities', 'crm_open_opportunity_amount']

        sale_where = reduce_ids(sale.party, party_ids)
        if company:
            sale_where &= sale.company == company
        line_amount = Sum(Coalesce(line.quantity, 0)
            * Coalesce(line.unit_price, 0))
        sale_lines = sale.join(line, 'LEFT',
            condition=(line.sale == sale.id) & (line.type == 'line'))
        if names & {'crm_open_quotations', 'crm_open_quotation_amount'}:
            yield sale_lines.select(
                sale.party, Count(sale.id, distinct=True), line_amount,
                where=sale_where & (sale.state == 'quotation'),
                group_by=sale.party), [
                'crm_open_quotations', 'crm_open_quotation_amount']
        if 'crm_orders_year_amount' in names:
            today = Date.today()
            yield sale_lines.select(
                sale.party, line_amount,
                where=sale_where
                & sale.state.in_(cls._lifecycle_order_states())
                & (sale.sale_date >= datetime.date(today.year, 1, 1))
                & (sale.sale_date <= datetime.date(today.year, 12, 31)),
                group_by=sale.party), ['crm_orders_year_amount']

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
        if 'crm_next_activity' in names:
            values['crm_next_activity'] = cls._get_next_activities(ids)
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
    def _get_next_activities(cls, party_ids):
        "Return {party id: activity id} of the next planned activities"
        pool = Pool()
        Activity = pool.get('crm.activity')
        cursor = Transaction().connection.cursor()
        company = Transaction().context.get('company')
        activity = Activity.__table__()
        first = Activity.__table__()
        next_activities = {}
        for sub_ids in map(list, grouped_slice(
                party_ids, backend.MAX_QUERY_PARAMS)):
            where = (reduce_ids(first.party, sub_ids)
                & (first.state == 'planned'))
            if company:
                where &= first.company == company
            first_dates = first.select(
                first.party, Min(first.date).as_('date'),
                where=where, group_by=first.party)
            cursor.execute(*activity.join(first_dates,
                    condition=(activity.party == first_dates.party)
                    & (activity.date == first_dates.date)).select(
                    activity.party, Min(activity.id),
                    where=activity.state == 'planned',
                    group_by=activity.party))
            next_activities.update(cursor)
        return next_activities

    @classmethod
    def _crm_currency_digits(cls):
        pool = Pool()
        Company = pool.get('company.company')
        company = Transaction().context.get('company')
        if company:
            return Company(company).currency.digits


class Replace(metaclass=PoolMeta):
    __name__ = 'party.replace'

    @classmethod
    def fields_to_replace(cls):
        return super().fields_to_replace() + [
            ('crm.activity', 'party'),
            ('crm.lifecycle.history', 'party'),
            ]
