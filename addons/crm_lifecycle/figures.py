# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime
from collections import defaultdict
from decimal import Decimal

from sql import Literal
from sql.aggregate import Count, Max, Min, Sum
from sql.conditionals import Case, Coalesce
from trytond import backend
from trytond.model import Index, ModelSQL, Unique, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction

# The stored figures of a party per company, by column: what the lists of
# customers show, sort and filter on
COLUMNS = [
    'last_contact', 'next_activity', 'next_activity_date',
    'open_opportunities', 'open_opportunity_amount',
    'open_quotations', 'open_quotation_amount',
    'orders_year', 'orders_year_amount',
    ]


class PartyFigures(ModelSQL):
    """The key figures of a party in a company, stored: kept current by the
    documents they come from (PartyFiguresSourceMixin), so that a list of
    customers reads, sorts and filters them with an index whatever the size
    of the database"""
    __string__ = "Party CRM Figures"
    __name__ = 'crm.party.figures'

    party = fields.Many2One(
        'party.party', "Party", required=True, ondelete='CASCADE',
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    company = fields.Many2One(
        'company.company', "Company", required=True, ondelete='CASCADE')
    last_contact = fields.DateTime("Last Contact")
    next_activity = fields.Many2One(
        'crm.activity', "Next Activity", ondelete='SET NULL')
    next_activity_date = fields.DateTime("Next Activity On")
    open_opportunities = fields.Integer("Open Opportunities")
    open_opportunity_amount = fields.Numeric("Expected Amount")
    open_quotations = fields.Integer("Open Quotations")
    open_quotation_amount = fields.Numeric("Quoted Amount")
    orders_year = fields.Integer("Orders Year")
    orders_year_amount = fields.Numeric("Orders of the Year")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('party_company_unique', Unique(t, t.party, t.company),
                'crm_lifecycle.msg_party_figures_unique'),
            ]
        cls._sql_indexes.update({
                Index(t,
                    (t.company, Index.Equality()),
                    (t.last_contact, Index.Range())),
                Index(t,
                    (t.company, Index.Equality()),
                    (t.next_activity_date, Index.Range())),
                Index(t,
                    (t.company, Index.Equality()),
                    (t.orders_year, Index.Equality()),
                    (t.orders_year_amount, Index.Range())),
                })

    @classmethod
    def __register__(cls, module):
        table_h = cls.__table_handler__(module)
        created = not table_h.table_exist(cls._table)
        super().__register__(module)
        if created:
            cls.refresh(None)

    @classmethod
    def _figure_queries(cls, party_ids):
        """Yield (query, columns): each query selects party, company and one
        value per column, grouped by party and company"""
        pool = Pool()
        Activity = pool.get('crm.activity')
        Opportunity = pool.get('sale.opportunity')
        Sale = pool.get('sale.sale')
        SaleLine = pool.get('sale.line')
        Party = pool.get('party.party')
        Date = pool.get('ir.date')
        activity = Activity.__table__()
        opportunity = Opportunity.__table__()
        sale = Sale.__table__()
        line = SaleLine.__table__()

        def restrict(column):
            if party_ids is None:
                return Literal(True)
            return reduce_ids(column, party_ids)

        yield activity.select(
            activity.party, activity.company,
            Max(Case((activity.state == 'done', activity.date))),
            Min(Case((activity.state == 'planned', activity.date))),
            where=restrict(activity.party)
            & activity.state.in_(['done', 'planned']),
            group_by=[activity.party, activity.company]), [
            'last_contact', 'next_activity_date']

        # the first planned activity: the lowest id at the earliest date
        first = Activity.__table__()
        first_dates = first.select(
            first.party, first.company, Min(first.date).as_('date'),
            where=restrict(first.party) & (first.state == 'planned'),
            group_by=[first.party, first.company])
        planned = Activity.__table__()
        yield planned.join(first_dates,
            condition=(planned.party == first_dates.party)
            & (planned.company == first_dates.company)
            & (planned.date == first_dates.date)).select(
            planned.party, planned.company, Min(planned.id),
            where=planned.state == 'planned',
            group_by=[planned.party, planned.company]), ['next_activity']

        yield opportunity.select(
            opportunity.party, opportunity.company, Count(opportunity.id),
            Sum(Coalesce(opportunity.amount, 0)),
            where=restrict(opportunity.party)
            & opportunity.state.in_(
                Party._lifecycle_opportunity_open_states()),
            group_by=[opportunity.party, opportunity.company]), [
            'open_opportunities', 'open_opportunity_amount']

        amount = Sum(Coalesce(line.quantity, 0) * Coalesce(line.unit_price, 0))
        sale_lines = sale.join(line, 'LEFT',
            condition=(line.sale == sale.id) & (line.type == 'line'))
        yield sale_lines.select(
            sale.party, sale.company, Count(sale.id, distinct=True), amount,
            where=restrict(sale.party) & (sale.state == 'quotation'),
            group_by=[sale.party, sale.company]), [
            'open_quotations', 'open_quotation_amount']

        year = Date.today().year
        yield sale_lines.select(
            sale.party, sale.company, Literal(year), amount,
            where=restrict(sale.party)
            & sale.state.in_(Party._lifecycle_order_states())
            & (sale.sale_date >= datetime.date(year, 1, 1))
            & (sale.sale_date <= datetime.date(year, 12, 31)),
            group_by=[sale.party, sale.company]), [
            'orders_year', 'orders_year_amount']

    @classmethod
    def _figure_value(cls, name, value):
        "Convert a value as the database returns it to the column's type"
        type_ = cls._fields[name]._type
        if value is None:
            return None
        elif type_ == 'numeric':
            return Decimal(str(value))
        elif type_ == 'datetime' and isinstance(value, str):
            return datetime.datetime.fromisoformat(value)
        return value

    @classmethod
    def refresh(cls, party_ids):
        """Compute the figures of the parties (all when None) again from
        their documents, set-based"""
        cursor = Transaction().connection.cursor()
        table = cls.__table__()
        if party_ids is None:
            slices = [None]
        else:
            slices = map(list, grouped_slice(
                    sorted(set(party_ids)), backend.MAX_QUERY_PARAMS))
        columns = [table.create_uid, table.create_date, table.party,
            table.company] + [getattr(table, c) for c in COLUMNS]
        for sub_ids in slices:
            values = defaultdict(dict)
            for query, names in cls._figure_queries(sub_ids):
                cursor.execute(*query)
                for party, company, *row in cursor:
                    for name, value in zip(names, row):
                        values[party, company][name] = cls._figure_value(
                            name, value)
            if sub_ids is None:
                cursor.execute(*table.delete())
            else:
                cursor.execute(*table.delete(
                        where=reduce_ids(table.party, sub_ids)))
            rows = [[0, datetime.datetime.now(), party, company]
                + [figures.get(c) for c in COLUMNS]
                for (party, company), figures in sorted(values.items())]
            size = max(backend.MAX_QUERY_PARAMS // len(columns), 1)
            for sub_rows in grouped_slice(rows, size):
                cursor.execute(*table.insert(columns, list(sub_rows)))


class PartyFiguresSourceMixin:
    "Keep the figures of the parties of the model's documents current"
    __slots__ = ()

    @classmethod
    def _crm_figures_parties(cls, records):
        "Return the ids of the parties whose figures the records give"
        return {r.party.id for r in records if r.party}

    @classmethod
    def _crm_figures_refresh(cls, party_ids):
        PartyFigures = Pool().get('crm.party.figures')
        if party_ids:
            PartyFigures.refresh(party_ids)

    # The fields the figures come from; a write of other fields leaves
    # them as they are
    _crm_figures_fields = set()

    @classmethod
    def on_write(cls, records, values):
        callback = super().on_write(records, values)
        if not values.keys() & cls._crm_figures_fields:
            return callback
        # the party a document leaves and the one it goes to
        parties = cls._crm_figures_parties(records)
        ids = [r.id for r in records]
        callback.append(lambda: cls._crm_figures_refresh(
                parties | cls._crm_figures_parties(cls.browse(ids))))
        return callback

    @classmethod
    def on_modification(cls, mode, records, field_names=None):
        super().on_modification(mode, records, field_names=field_names)
        if mode == 'create':
            cls._crm_figures_refresh(cls._crm_figures_parties(records))

    @classmethod
    def on_delete(cls, records):
        callback = super().on_delete(records)
        parties = cls._crm_figures_parties(records)
        # once the records are gone
        callback.append(lambda: cls._crm_figures_refresh(parties))
        return callback


class Activity(PartyFiguresSourceMixin, metaclass=PoolMeta):
    __name__ = 'crm.activity'
    _crm_figures_fields = {'party', 'company', 'state', 'date'}


class Opportunity(PartyFiguresSourceMixin, metaclass=PoolMeta):
    __name__ = 'sale.opportunity'
    _crm_figures_fields = {'party', 'company', 'state', 'amount'}


class Sale(PartyFiguresSourceMixin, metaclass=PoolMeta):
    __name__ = 'sale.sale'
    _crm_figures_fields = {'party', 'company', 'state', 'sale_date', 'lines'}


class SaleLine(PartyFiguresSourceMixin, metaclass=PoolMeta):
    __name__ = 'sale.line'
    _crm_figures_fields = {'sale', 'type', 'quantity', 'unit_price'}

    @classmethod
    def _crm_figures_parties(cls, lines):
        return {line.sale.party.id for line in lines
            if line.sale and line.sale.party}
