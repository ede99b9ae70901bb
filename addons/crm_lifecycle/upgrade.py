# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The lifecycle of parties derived from their documents, dated

Used when the suite is activated on a database that already holds parties,
opportunities, sales and invoices (party's ``__register__``) and by the
manual ``recompute_lifecycle_stage``: both give the same stages, first
contact dates and history."""
import datetime
import logging
import time
from collections import defaultdict

from sql import Cast, Literal, Null, Select, Values, Window
from sql.aggregate import Max
from sql.conditionals import Coalesce
from sql.functions import CurrentTimestamp, Function, RowNumber
from trytond import backend
from trytond.pool import Pool
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction

from .lifecycle import RANK

FORWARD = ['lead', 'quoted', 'customer']
logger = logging.getLogger(__name__)


def _date(value):
    # SQLite returns the computed dates as text
    if isinstance(value, str):
        value = datetime.date.fromisoformat(value[:10])
    elif isinstance(value, datetime.datetime):
        value = value.date()
    return value


def _datetime(value):
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    elif not isinstance(value, datetime.datetime):
        value = datetime.datetime.combine(value, datetime.time())
    # the fields show (and validate) seconds
    if value.microsecond:
        value = value.replace(microsecond=0)
    return value


def _slices(party_ids):
    "Yield the id lists to query, or None for all parties"
    if party_ids is None:
        yield None
    else:
        yield from map(list, grouped_slice(
                party_ids, backend.MAX_QUERY_PARAMS))


class Unnest(Function):
    __slots__ = ()
    _function = 'UNNEST'


def _row_queries(rows, types):
    """Yield the queries that select the rows (lists of values of the SQL
    types) as the columns column1, column2…

    PostgreSQL: one query with an array per column, as the driver costs
    more per parameter than the database per row. Else VALUES lists, in
    slices of the parameters a query takes."""
    if not rows:
        return
    if backend.name == 'postgresql':
        yield Select([
                Unnest(Cast(Literal(list(values)), f'{type_}[]')).as_(
                    f'column{i}')
                for i, (values, type_) in enumerate(
                    zip(zip(*rows), types), 1)])
    else:
        size = max(backend.MAX_QUERY_PARAMS // len(types), 1)
        for sub_rows in grouped_slice(rows, size):
            yield Values([list(r) for r in sub_rows])


class PartyLifecycleUpgradeMixin:
    "Derive the lifecycle of existing parties, set-based"
    __slots__ = ()

    @classmethod
    def _lifecycle_document_queries(cls, sub_ids):
        """Yield (fact, model name, table, date expression, where, last):
        for each party, the first (or last) document of each fact with its
        date. Facts: 'contact' (any customer document), 'lead', 'quoted',
        'customer', 'lost' and 'last' (the last business for dormancy)."""
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Sale = pool.get('sale.sale')
        Invoice = pool.get('account.invoice')
        Activity = pool.get('crm.activity')
        opportunity = Opportunity.__table__()
        sale = Sale.__table__()
        invoice = Invoice.__table__()
        activity = Activity.__table__()
        order_states = cls._lifecycle_order_states()
        invoice_states = cls._lifecycle_invoice_states()

        def day(expression):
            return Sale.sale_date.sql_cast(expression)

        def where(table, condition=None):
            if condition is None:
                condition = Literal(True)
            if sub_ids is not None:
                condition &= reduce_ids(table.party, sub_ids)
            return condition

        customer_invoice = invoice.type == 'out'
        yield ('contact', 'sale.opportunity', opportunity,
            opportunity.start_date, where(opportunity), False)
        yield ('contact', 'sale.sale', sale,
            Coalesce(sale.quotation_date, sale.sale_date,
                day(sale.create_date)), where(sale), False)
        yield ('contact', 'account.invoice', invoice,
            Coalesce(invoice.invoice_date, day(invoice.create_date)),
            where(invoice, customer_invoice), False)
        yield ('contact', 'crm.activity', activity,
            day(activity.date), where(activity), False)
        yield ('lead', 'sale.opportunity', opportunity,
            opportunity.start_date, where(opportunity), False)
        yield ('quoted', 'sale.sale', sale,
            sale.quotation_date,
            where(sale, sale.quotation_date != Null), False)
        yield ('customer', 'sale.sale', sale,
            Coalesce(sale.sale_date, sale.quotation_date),
            where(sale, sale.state.in_(order_states)), False)
        yield ('customer', 'account.invoice', invoice,
            invoice.invoice_date,
            where(invoice, customer_invoice
                & invoice.state.in_(invoice_states)), False)
        yield ('lost', 'sale.opportunity', opportunity,
            Coalesce(opportunity.end_date, opportunity.start_date),
            where(opportunity, opportunity.state == 'lost'), True)
        # as mark_dormant: orders, quotations, posted invoices and done
        # activities keep a customer active
        yield ('last', 'sale.sale', sale,
            Coalesce(sale.sale_date, sale.quotation_date),
            where(sale, sale.state.in_(order_states + ['quotation'])), True)
        yield ('last', 'account.invoice', invoice,
            invoice.invoice_date,
            where(invoice, customer_invoice
                & invoice.state.in_(invoice_states)), True)
        yield ('last', 'crm.activity', activity,
            day(activity.date),
            where(activity, activity.state == 'done'), True)

    @classmethod
    def _lifecycle_excluded_queries(cls, sub_ids):
        """Yield queries of party ids that are no CRM contacts unless they
        have a customer document ('supplier') or never ('internal')"""
        pool = Pool()
        Company = pool.get('company.company')
        Employee = pool.get('company.employee')
        Invoice = pool.get('account.invoice')
        company = Company.__table__()
        employee = Employee.__table__()
        invoice = Invoice.__table__()

        def where(column, condition=None):
            if condition is None:
                condition = Literal(True)
            if sub_ids is not None:
                condition &= reduce_ids(column, sub_ids)
            return condition

        yield 'internal', company.select(
            company.party, where=where(company.party))
        yield 'internal', employee.select(
            employee.party, where=where(employee.party))
        yield 'supplier', invoice.select(
            invoice.party,
            where=where(invoice.party, invoice.type == 'in'),
            group_by=invoice.party)
        try:
            Purchase = pool.get('purchase.purchase')
        except KeyError:
            pass
        else:
            purchase = Purchase.__table__()
            yield 'supplier', purchase.select(
                purchase.party, where=where(purchase.party),
                group_by=purchase.party)

    @classmethod
    def _lifecycle_documents(cls, party_ids):
        """Return {fact: {party id: (date, origin)}} with the first (or the
        last) document of each fact, from one windowed query per kind"""
        cursor = Transaction().connection.cursor()
        documents = defaultdict(dict)
        for sub_ids in _slices(party_ids):
            rows = {}
            for fact, model, table, date, where, last in (
                    cls._lifecycle_document_queries(sub_ids)):
                order = [date.desc, table.id.desc] if last else [
                    date.asc, table.id.asc]
                ranked = table.select(
                    table.party.as_('party'), date.as_('date'),
                    table.id.as_('id'),
                    RowNumber(window=Window(
                            [table.party], order_by=order)).as_('rank'),
                    where=where & (date != Null) & (table.party != Null))
                query = tuple(ranked.select(
                        ranked.party, ranked.date, ranked.id,
                        where=ranked.rank == 1))
                # facts of the same documents (the first opportunity is
                # the first contact and the lead) are read once
                key = (query[0], repr(query[1]))
                if key not in rows:
                    cursor.execute(*query)
                    rows[key] = cursor.fetchall()
                known = documents[fact]
                for party_id, date, id_ in rows[key]:
                    date = _date(date)
                    current = known.get(party_id)
                    if (current is None
                            or (date > current[0] if last
                                else date < current[0])):
                        known[party_id] = (date, f'{model},{id_}')
        return documents

    @classmethod
    def _lifecycle_excluded(cls, party_ids, documents):
        "Return the ids of parties without CRM life"
        cursor = Transaction().connection.cursor()
        internal, suppliers = set(), set()
        for sub_ids in _slices(party_ids):
            for kind, query in cls._lifecycle_excluded_queries(sub_ids):
                cursor.execute(*query)
                (internal if kind == 'internal' else suppliers).update(
                    i for i, in cursor.fetchall())
        return internal | (suppliers - documents['contact'].keys())

    @classmethod
    def _lifecycle_path(cls, stage, documents, party_id, create_date,
            dormant_days, today):
        """Return the history [(from, to, datetime, origin)] that leads a
        party to stage as its documents date it"""
        def fact(name):
            return documents[name].get(party_id)

        # the earliest customer document, or the party's creation
        candidates = [v for f in ['contact'] + FORWARD if (v := fact(f))]
        if candidates:
            date, origin = min(candidates, key=lambda v: v[0])
            contact = (_datetime(date), origin)
        else:
            contact = (_datetime(create_date), None)

        target = 'customer' if stage == 'dormant' else stage
        # a lost party never ordered: it went as far as a quotation
        limit = RANK.get(target, RANK['quoted'])
        steps = []
        for name in reversed(FORWARD):
            if RANK[name] > limit:
                continue
            value = fact(name)
            if name == target and not value:
                # a document the facts do not date (e.g. a quotation
                # without quotation date): when the rest says
                value = (None, None)
            elif not value:
                continue
            date = _datetime(value[0]) if value[0] else None
            # a party that reached a later stage first skipped this one
            if steps and date and steps[0][1] and date > steps[0][1]:
                continue
            steps.insert(0, [name, date, value[1]])
        if stage == 'lost':
            lost = fact('lost')
            steps.append(['lost', _datetime(lost[0]) if lost else None,
                    lost[1] if lost else None])
        elif stage == 'dormant':
            last = fact('last')
            steps.append(['dormant', _datetime(
                        last[0] + datetime.timedelta(days=dormant_days)),
                    last[1]])

        path = [(None, 'contact', *contact)]
        for name, date, origin in steps:
            previous = path[-1]
            path.append((previous[1], name,
                    max(date or previous[2], previous[2]), origin))
        return path

    @classmethod
    def _lifecycle_final_stages(cls, party_ids, documents, dormant_days,
            today, every=False):
        """Return {party id: stage} as derive_lifecycle_stage and dormancy
        say (every: the party ids are all the parties with CRM life)"""
        # by ids: browse checks all the ids for each record
        stages = cls._derive_lifecycle_stages(party_ids,
            facts=cls._lifecycle_facts(None) if every else None)
        limit = today - datetime.timedelta(days=dormant_days)
        for party_id, stage in stages.items():
            last = documents['last'].get(party_id)
            if stage == 'customer' and last and last[0] < limit:
                stages[party_id] = 'dormant'
        return stages

    @classmethod
    def _lifecycle_stored_paths(cls, party_ids):
        """Return {party id: [(from, to, datetime, origin)]} of the history
        the system recorded (not the rows set by hand), in order"""
        pool = Pool()
        History = pool.get('crm.lifecycle.history')
        history = History.__table__()
        cursor = Transaction().connection.cursor()
        paths = defaultdict(list)
        for sub_ids in _slices(party_ids):
            where = Coalesce(history.manual, False) == Literal(False)
            if sub_ids is not None:
                where &= reduce_ids(history.party, sub_ids)
            cursor.execute(*history.select(
                    history.party, history.from_stage, history.to_stage,
                    history.date, history.origin,
                    where=where,
                    order_by=[history.party, history.date, history.id]))
            for party_id, from_, to, date, origin in cursor.fetchall():
                paths[party_id].append(
                    (from_, to, _datetime(date), origin))
        return paths

    @classmethod
    def derive_lifecycle(cls, party_ids=None, dormant_days=None):
        """Set stage, stage date, first contact and the history of the
        parties (all when None) as their documents say, set-based.

        The history recorded by the system is replaced (rows set by hand
        stay); a first contact recorded earlier than the documents say is
        kept. Suppliers without customer documents, employees and the
        companies' own parties get no first contact and no history."""
        pool = Pool()
        History = pool.get('crm.lifecycle.history')
        Date = pool.get('ir.date')
        Configuration = pool.get('crm.configuration')
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        party = cls.__table__()
        history = History.__table__()
        started = time.monotonic()
        today = Date.today()
        if dormant_days is None:
            dormant_days = Configuration(1).dormant_days

        parties, stored = {}, {}
        for sub_ids in _slices(party_ids):
            where = Literal(True)
            if sub_ids is not None:
                where = reduce_ids(party.id, sub_ids)
            cursor.execute(*party.select(
                    party.id, party.create_date, party.first_contact_date,
                    party.lifecycle_stage, party.lifecycle_since,
                    where=where))
            for id_, create_date, first_contact, stage, since in (
                    cursor.fetchall()):
                first_contact = _date(first_contact)
                parties[id_] = (create_date, first_contact)
                stored[id_] = (stage,
                    _datetime(since) if since else None, first_contact)
        if not parties:
            return
        ids = sorted(parties)
        documents = cls._lifecycle_documents(party_ids)
        excluded = cls._lifecycle_excluded(party_ids, documents)
        included = [i for i in ids if i not in excluded]
        stages = cls._lifecycle_final_stages(
            included, documents, dormant_days, today,
            every=party_ids is None)

        paths, values = {}, {}
        for party_id in included:
            create_date, recorded = parties[party_id]
            path = cls._lifecycle_path(stages[party_id], documents,
                party_id, create_date, dormant_days, today)
            first_contact = path[0][2].date()
            if recorded and recorded < first_contact:
                first_contact = recorded
            values[party_id] = (path[-1][1], path[-1][2], first_contact)
            paths[party_id] = path
        for party_id in excluded:
            create_date, _ = parties[party_id]
            values[party_id] = ('contact', _datetime(create_date), None)

        # write only what differs from what is stored: a recompute that
        # confirms the history costs its reads, not a rewrite
        stored_paths = cls._lifecycle_stored_paths(party_ids)
        changed = [i for i in ids
            if paths.get(i, []) != stored_paths.get(i, [])]
        for sub_ids in grouped_slice(changed, backend.MAX_QUERY_PARAMS):
            cursor.execute(*history.delete(
                    where=reduce_ids(history.party, list(sub_ids))
                    & (Coalesce(history.manual, False) == Literal(False))))
        rows = [[party_id, from_, to, date, origin]
            for party_id in changed
            for from_, to, date, origin in paths.get(party_id, [])]
        for query in _row_queries(rows,
                ['INTEGER', 'VARCHAR', 'VARCHAR', 'TIMESTAMP', 'VARCHAR']):
            cursor.execute(*history.insert(
                    [history.create_uid, history.create_date,
                        history.party, history.from_stage, history.to_stage,
                        history.date, history.origin, history.manual],
                    query.select(
                        Literal(0), CurrentTimestamp(), query.column1,
                        query.column2, query.column3, query.column4,
                        query.column5, Literal(False))))

        # one statement joins the values of many parties (a CASE per
        # column would test its cases in turn for each row)
        updated = [i for i in ids if values[i] != stored[i]]
        for query in _row_queries(
                [[i, *values[i]] for i in updated],
                ['INTEGER', 'VARCHAR', 'TIMESTAMP', 'DATE']):
            cursor.execute(*party.update(
                    [party.lifecycle_stage, party.lifecycle_since,
                        party.first_contact_date],
                    [query.column2, query.column3, query.column4],
                    from_=[query], where=party.id == query.column1))

        # the timeline shows the new history (on activation its table is
        # made and filled later)
        Timeline = pool.get('crm.timeline')
        if changed and backend.TableHandler.table_exist(Timeline._table):
            if party_ids is None and len(changed) == len(ids):
                Timeline.rebuild([History.__name__])
            else:
                Timeline.refresh_parties(History.__name__, changed)

        logger.info(
            "lifecycle of %s parties derived (%s without CRM life), "
            "history of %s rewritten (%s rows), %s updated, in %.1f s",
            len(included), len(excluded), len(changed), len(rows),
            len(updated), time.monotonic() - started)
        if not changed and not updated:
            return
        # as ModelStorage.write does: the records read before are stale
        transaction.counter += 1
        for cache in transaction.cache.values():
            for name in [cls.__name__, History.__name__]:
                cache.pop(name, None)

    @classmethod
    def _lifecycle_dormant_days_stored(cls):
        "Return the dormant days as stored, for the module's registration"
        pool = Pool()
        Configuration = pool.get('crm.configuration')
        cursor = Transaction().connection.cursor()
        configuration = Configuration.__table__()
        cursor.execute(*configuration.select(
                Max(configuration.dormant_days)))
        days, = cursor.fetchone() or (None,)
        return days or Configuration.default_dormant_days()
