# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from sql import Cast, Column, Literal, Null
from sql.aggregate import Sum
from sql.conditionals import Coalesce
from sql.functions import CurrentTimestamp
from sql.operators import Concat, Like
from trytond import backend
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction

from .activity import ACTIVITY_TYPES
from .common import model_selection

# The sources of this module's timeline rows
DOCUMENTS = [
    'crm.activity', 'sale.opportunity', 'sale.sale', 'account.invoice',
    'crm.lifecycle.history']


class Timeline(ModelSQL, ModelView):
    """One row per document of a party's life, stored: the sources keep
    their rows current (TimelineSourceMixin), so that a page of a customer
    is an index scan whatever the size of the database."""
    __string__ = "CRM Timeline"
    __name__ = 'crm.timeline'

    party = fields.Many2One(
        'party.party', "Party", readonly=True, required=True,
        ondelete='CASCADE',
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    date = fields.DateTime("Date", readonly=True)
    kind = fields.Selection(ACTIVITY_TYPES + [
            ('opportunity', "Opportunity"),
            ('sale', "Quotation / Order"),
            ('invoice', "Invoice"),
            ('stage', "Stage Change"),
            ], "Kind", readonly=True)
    summary = fields.Char("Summary", readonly=True)
    amount = Monetary(
        "Amount", currency='currency', digits='currency', readonly=True)
    currency = fields.Many2One(
        'currency.currency', "Currency", readonly=True, ondelete='RESTRICT')
    description = fields.Function(
        fields.Char("Description"), 'get_description')
    state = fields.Char("State Code", readonly=True)
    state_string = fields.Function(
        fields.Char("State"), 'get_state_string')
    document = fields.Reference(
        "Document", selection='get_documents', readonly=True, required=True)
    employee = fields.Many2One(
        'company.employee', "Employee", readonly=True, ondelete='SET NULL')
    company = fields.Many2One(
        'company.company', "Company", readonly=True, ondelete='CASCADE')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                # a page of a party, newest first (the order of the list)
                Index(t,
                    (t.party, Index.Equality()),
                    (t.date, Index.Range(order='DESC')),
                    (t.id, Index.Range(order='DESC'))),
                # the rows of a document, when it changes
                Index(t, (t.document, Index.Equality())),
                })
        cls._order = [('date', 'DESC'), ('id', 'DESC')]

    @classmethod
    def __register__(cls, module):
        super().__register__(module)
        # Each module fills the rows of its own sources when it is activated
        # or updated: the pool holds the sources of the modules loaded so
        # far, whose tables exist.
        cls.rebuild(cls._module_sources(module))

    @classmethod
    def _module_sources(cls, module):
        "Return the source models that module adds"
        return DOCUMENTS if module == 'crm_lifecycle' else []

    @classmethod
    def _get_documents(cls):
        return list(DOCUMENTS)

    @classmethod
    def get_documents(cls):
        return model_selection(cls._get_documents())

    @classmethod
    def _columns(cls, table, model_name, party, date, kind, summary,
            amount=None, currency=None, state=None, employee=None,
            company=None):
        "Return {column name: expression} of a source query"
        def typed(value, type_):
            if value is None:
                return Cast(Literal(None), type_)
            return value
        return {
            'party': party,
            'date': cls.date.sql_cast(date),
            'kind': kind,
            'summary': Cast(summary, cls.summary.sql_type().base),
            'amount': Cast(typed(amount, cls.amount.sql_type().base),
                cls.amount.sql_type().base),
            'currency': typed(currency, cls.currency.sql_type().base),
            'state': Cast(typed(state, 'VARCHAR'), cls.state.sql_type().base),
            'document': Concat(model_name + ',', table.id),
            'employee': typed(employee, cls.employee.sql_type().base),
            'company': typed(company, cls.company.sql_type().base),
            }

    @classmethod
    def _timeline_sources(cls):
        """Return [(model name, source table, columns, from, where)]: the
        rows of each source; other modules add theirs"""
        pool = Pool()
        Activity = pool.get('crm.activity')
        Opportunity = pool.get('sale.opportunity')
        Sale = pool.get('sale.sale')
        SaleLine = pool.get('sale.line')
        Invoice = pool.get('account.invoice')
        History = pool.get('crm.lifecycle.history')
        activity = Activity.__table__()
        opportunity = Opportunity.__table__()
        sale = Sale.__table__()
        sale_line = SaleLine.__table__()
        invoice = Invoice.__table__()
        history = History.__table__()

        sale_amount = sale_line.select(
            Sum(sale_line.quantity * sale_line.unit_price),
            where=(sale_line.sale == sale.id) & (sale_line.type == 'line'))
        return [
            ('crm.activity', activity, cls._columns(
                    activity, 'crm.activity',
                    party=activity.party, date=activity.date,
                    kind=activity.activity_type, summary=activity.subject,
                    state=activity.state, employee=activity.employee,
                    company=activity.company),
                activity, activity.party != Null),
            ('sale.opportunity', opportunity, cls._columns(
                    opportunity, 'sale.opportunity',
                    party=opportunity.party, date=opportunity.start_date,
                    kind=Literal('opportunity'),
                    summary=Coalesce(
                        opportunity.description, opportunity.number),
                    amount=opportunity.amount, currency=opportunity.currency,
                    state=opportunity.state, employee=opportunity.employee,
                    company=opportunity.company),
                opportunity, opportunity.party != Null),
            ('sale.sale', sale, cls._columns(
                    sale, 'sale.sale',
                    party=sale.party,
                    date=Coalesce(
                        sale.sale_date, sale.quotation_date,
                        Sale.sale_date.sql_cast(sale.create_date)),
                    kind=Literal('sale'),
                    summary=Concat(Concat(
                            Coalesce(sale.number, ''), ' '),
                        Coalesce(sale.description, '')),
                    amount=Coalesce(sale.untaxed_amount_cache, sale_amount),
                    currency=sale.currency, state=sale.state,
                    employee=Coalesce(sale.confirmed_by, sale.quoted_by),
                    company=sale.company),
                sale, sale.party != Null),
            ('account.invoice', invoice, cls._columns(
                    invoice, 'account.invoice',
                    party=invoice.party,
                    date=Coalesce(
                        invoice.invoice_date,
                        Invoice.invoice_date.sql_cast(invoice.create_date)),
                    kind=Literal('invoice'),
                    summary=Concat(Concat(
                            Coalesce(invoice.number, ''), ' '),
                        Coalesce(invoice.description, '')),
                    amount=invoice.untaxed_amount_cache,
                    currency=invoice.currency, state=invoice.state,
                    company=invoice.company),
                invoice, invoice.type == 'out'),
            ('crm.lifecycle.history', history, cls._columns(
                    history, 'crm.lifecycle.history',
                    party=history.party, date=history.date,
                    kind=Literal('stage'),
                    summary=Coalesce(history.from_stage, ''),
                    state=history.to_stage),
                history, Literal(True)),
            ]

    @classmethod
    def _fill(cls, models, ids=None, party_ids=None):
        """Insert the rows of the sources of models, of the documents ids
        or of the parties party_ids when given"""
        cursor = Transaction().connection.cursor()
        table = cls.__table__()
        for model, source, columns, from_, condition in (
                cls._timeline_sources()):
            if model not in models:
                continue
            if ids is not None:
                condition &= reduce_ids(source.id, ids)
            if party_ids is not None:
                condition &= reduce_ids(columns['party'], party_ids)
            names = sorted(columns)
            cursor.execute(*table.insert(
                    [table.create_uid, table.create_date]
                    + [Column(table, n) for n in names],
                    from_.select(
                        Literal(0), CurrentTimestamp(),
                        *(columns[n] for n in names),
                        where=condition)))

    @classmethod
    def rebuild(cls, models=None):
        """Fill the rows of the sources of models (all when None) again
        from their documents, set-based"""
        cursor = Transaction().connection.cursor()
        table = cls.__table__()
        known = [m for m, *_ in cls._timeline_sources()]
        models = known if models is None else [
            m for m in models if m in known]
        for model in models:
            cursor.execute(*table.delete(
                    where=Like(table.document, model + ',%')))
        cls._fill(models)

    @classmethod
    def refresh(cls, model, ids, delete=False):
        """Replace the rows of the documents of model by their current
        values (remove them only when delete)"""
        cursor = Transaction().connection.cursor()
        table = cls.__table__()
        ids = sorted(set(ids))
        for sub_ids in grouped_slice(ids, backend.MAX_QUERY_PARAMS):
            sub_ids = list(sub_ids)
            cursor.execute(*table.delete(where=table.document.in_(
                        [f'{model},{i}' for i in sub_ids])))
            if not delete:
                cls._fill([model], ids=sub_ids)

    @classmethod
    def refresh_parties(cls, model, party_ids):
        """Replace the rows of model of the parties (after a set-based
        change of the source that did not go through the ORM)"""
        cursor = Transaction().connection.cursor()
        table = cls.__table__()
        for sub_ids in grouped_slice(
                sorted(set(party_ids)), backend.MAX_QUERY_PARAMS):
            sub_ids = list(sub_ids)
            cursor.execute(*table.delete(
                    where=reduce_ids(table.party, sub_ids)
                    & Like(table.document, model + ',%')))
            cls._fill([model], party_ids=sub_ids)

    @classmethod
    def _state_models(cls):
        "Return {kind: (model, field)} whose selection names the state"
        return {
            **{k: ('crm.activity', 'state') for k, _ in ACTIVITY_TYPES},
            'opportunity': ('sale.opportunity', 'state'),
            'sale': ('sale.sale', 'state'),
            'invoice': ('account.invoice', 'state'),
            'stage': ('crm.lifecycle.history', 'to_stage'),
            }

    @classmethod
    def _state_selections(cls):
        "Return {kind: {state: translated label}}"
        pool = Pool()
        selections = {}
        for kind, (model, field) in cls._state_models().items():
            Model = pool.get(model)
            selection = Model.fields_get([field])[field]['selection']
            if isinstance(selection, str):
                selection = []
            selections[kind] = dict(selection)
        return selections

    @classmethod
    def get_state_string(cls, rows, name):
        selections = cls._state_selections()
        return {r.id: selections.get(r.kind, {}).get(r.state, r.state)
            for r in rows}

    @classmethod
    def get_description(cls, rows, name):
        # A stage row keeps the stage it came from in its summary.
        stages = cls._state_selections()['stage']
        descriptions = {}
        for row in rows:
            if row.kind == 'stage':
                descriptions[row.id] = ' → '.join(filter(None, [
                            stages.get(row.summary), stages.get(row.state)]))
            else:
                descriptions[row.id] = row.summary
        return descriptions


class TimelineSourceMixin:
    "Keep the timeline rows of the model's documents current"
    __slots__ = ()

    # The fields the rows of the model show (None: all); a write of other
    # fields leaves the rows as they are
    _crm_timeline_fields = None

    @classmethod
    def on_modification(cls, mode, records, field_names=None):
        super().on_modification(mode, records, field_names=field_names)
        Timeline = Pool().get('crm.timeline')
        if (mode == 'write' and field_names is not None
                and cls._crm_timeline_fields is not None
                and not field_names & cls._crm_timeline_fields):
            return
        # on delete, called before the rows go
        Timeline.refresh(
            cls.__name__, [r.id for r in records], delete=mode == 'delete')


class Activity(TimelineSourceMixin, metaclass=PoolMeta):
    __name__ = 'crm.activity'
    _crm_timeline_fields = {
        'party', 'date', 'activity_type', 'subject', 'state', 'employee',
        'company'}


class Opportunity(TimelineSourceMixin, metaclass=PoolMeta):
    __name__ = 'sale.opportunity'
    _crm_timeline_fields = {
        'party', 'start_date', 'description', 'number', 'amount',
        'currency', 'state', 'employee', 'company'}


class Sale(TimelineSourceMixin, metaclass=PoolMeta):
    __name__ = 'sale.sale'
    _crm_timeline_fields = {
        'party', 'sale_date', 'quotation_date', 'number', 'description',
        'untaxed_amount_cache', 'currency', 'state', 'confirmed_by',
        'quoted_by', 'company', 'lines'}


class SaleLine(metaclass=PoolMeta):
    __name__ = 'sale.line'

    # A quotation's amount is the sum of its lines until it is stored.

    @classmethod
    def on_modification(cls, mode, lines, field_names=None):
        super().on_modification(mode, lines, field_names=field_names)
        if mode == 'write' and field_names is not None and not (
                field_names & {'sale', 'type', 'quantity', 'unit_price'}):
            return
        if mode != 'delete':
            Timeline = Pool().get('crm.timeline')
            Timeline.refresh('sale.sale', [line.sale.id for line in lines])

    @classmethod
    def on_delete(cls, lines):
        Timeline = Pool().get('crm.timeline')
        callback = super().on_delete(lines)
        sale_ids = [line.sale.id for line in lines]
        # once the lines are gone
        callback.append(lambda: Timeline.refresh('sale.sale', sale_ids))
        return callback


class Invoice(TimelineSourceMixin, metaclass=PoolMeta):
    __name__ = 'account.invoice'
    _crm_timeline_fields = {
        'party', 'invoice_date', 'number', 'description',
        'untaxed_amount_cache', 'currency', 'state', 'company', 'type'}


class LifecycleHistory(TimelineSourceMixin, metaclass=PoolMeta):
    __name__ = 'crm.lifecycle.history'
