# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from collections import defaultdict

from sql import Cast, Column, Literal, Null
from sql.aggregate import Sum
from sql.conditionals import Case, Coalesce
from sql.functions import CurrentTimestamp, Substring
from sql.operators import Concat, Like
from trytond import backend
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, PYSONEncoder
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import StateAction, Wizard

from .activity import ACTIVITY_TYPES
from .common import model_selection

# The sources of this module's timeline rows
DOCUMENTS = [
    'crm.activity', 'sale.opportunity', 'sale.sale', 'account.invoice',
    'crm.lifecycle.history', 'ir.email']
# The documents with a party whose sent e-mails (ir.email) are the party's:
# {model: (party column, company column)}
EMAIL_RESOURCES = {
    'party.party': ('id', None),
    'crm.activity': ('party', 'company'),
    'sale.opportunity': ('party', 'company'),
    'sale.sale': ('party', 'company'),
    'account.invoice': ('party', 'company'),
    }
# The time of day of a document that has only a day and was not made on it
DAY_TIME = ' 12:00:00'


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
            ('payment', "Payment"),
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
    document_name = fields.Function(
        fields.Char("Document"), 'get_document_name')
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
        cls._buttons.update({
                'open_document': {
                    'icon': 'tryton-forward',
                    'depends': ['document'],
                    },
                })

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
    def _day_time(cls, day, created):
        """Return the date-time of a document that has only a day: the
        moment of its creation when it was made on that day, else the day
        at noon (UTC), which stays on the day in the company's time zone"""
        date = fields.Date("Day")
        return Case(
            (date.sql_cast(created) == day, created),
            else_=cls.date.sql_cast(
                Concat(Cast(day, 'VARCHAR'), DAY_TIME)))

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
                    party=opportunity.party,
                    date=Coalesce(
                        cls._day_time(
                            opportunity.start_date, opportunity.create_date),
                        opportunity.create_date),
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
                        cls._day_time(
                            Coalesce(sale.sale_date, sale.quotation_date),
                            sale.create_date),
                        sale.create_date),
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
                        cls._day_time(
                            invoice.invoice_date, invoice.create_date),
                        invoice.create_date),
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
            *cls._email_sources(),
            cls._payment_source(),
            ]

    @classmethod
    def _email_resources(cls):
        "Return {model: (party column, company column)} of e-mail resources"
        return dict(EMAIL_RESOURCES)

    @classmethod
    def _email_sources(cls):
        """Return the sources of the sent e-mails, one per model of their
        resource: the party is the resource's"""
        pool = Pool()
        Email = pool.get('ir.email')
        User = pool.get('res.user')
        sources = []
        for model, (party, company) in cls._email_resources().items():
            Model = pool.get(model)
            email = Email.__table__()
            user = User.__table__()
            resource = Model.__table__()
            prefix = model + ','
            # the id of the resource only for the e-mails of the model, so
            # that no other resource's id is cast
            resource_id = Cast(Case(
                    (Like(email.resource, prefix + '%'),
                        Substring(email.resource, len(prefix) + 1)),
                    else_=Null), Model.id.sql_type().base)
            sources.append(('ir.email', email, cls._columns(
                        email, 'ir.email',
                        party=Column(resource, party),
                        date=email.create_date,
                        kind=Literal('email'),
                        summary=Coalesce(email.subject, ''),
                        employee=user.employee,
                        company=(
                            Column(resource, company) if company else None)),
                    email.join(resource,
                        condition=resource.id == resource_id
                        ).join(user, 'LEFT',
                        condition=email.create_uid == user.id),
                    Like(email.resource, prefix + '%')))
        return sources

    @classmethod
    def _payment_source(cls):
        """Return the source of the payments of customer invoices: their
        payment lines, as rows of the invoice (a move line is readable by
        accounting only)"""
        pool = Pool()
        Invoice = pool.get('account.invoice')
        PaymentLine = pool.get('account.invoice-account.move.line')
        Line = pool.get('account.move.line')
        Move = pool.get('account.move')
        Company = pool.get('company.company')
        invoice = Invoice.__table__()
        payment_line = PaymentLine.__table__()
        line = Line.__table__()
        move = Move.__table__()
        company = Company.__table__()
        return ('account.invoice', invoice, cls._columns(
                invoice, 'account.invoice',
                party=invoice.party,
                date=Coalesce(
                    cls._day_time(move.date, line.create_date),
                    line.create_date),
                kind=Literal('payment'),
                summary=Coalesce(invoice.number, ''),
                amount=line.credit - line.debit,
                currency=company.currency,
                company=move.company),
            invoice.join(payment_line,
                condition=payment_line.invoice == invoice.id
                ).join(line,
                condition=payment_line.line == line.id
                ).join(move, condition=line.move == move.id
                ).join(company, condition=move.company == company.id),
            invoice.type == 'out')

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
    def refresh_emails(cls, model, ids):
        "Replace the rows of the e-mails sent from the documents of model"
        pool = Pool()
        Email = pool.get('ir.email')
        if model not in cls._email_resources():
            return
        cursor = Transaction().connection.cursor()
        email = Email.__table__()
        email_ids = []
        for sub_ids in grouped_slice(
                sorted(set(ids)), backend.MAX_QUERY_PARAMS):
            cursor.execute(*email.select(email.id,
                    where=email.resource.in_(
                        [f'{model},{i}' for i in sub_ids])))
            email_ids.extend(i for i, in cursor)
        if email_ids:
            cls.refresh('ir.email', email_ids)

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
    def get_document_name(cls, rows, name):
        """Return the names of the documents, read once per model; the
        row already shows what the name tells, so it is read without the
        access rules of the documents"""
        pool = Pool()
        IrModel = pool.get('ir.model')
        ids = defaultdict(set)
        for row in rows:
            if row.document:
                ids[row.document.__name__].add(row.document.id)
        names = {}
        with without_check_access():
            for model, model_ids in ids.items():
                Model = pool.get(model)
                for record in Model.browse(
                        Model.search([('id', 'in', list(model_ids))])):
                    names[model, record.id] = record.rec_name
        result = {}
        for row in rows:
            document = row.document
            if not document:
                result[row.id] = None
                continue
            name = names.get((document.__name__, document.id))
            if name in {None, f'({document.id})'}:
                # a document without a name of its own (a draft, an e-mail)
                name = (row.summary or '').strip() or ' '.join([
                        IrModel.get_name(document.__name__),
                        f'({document.id})'])
            result[row.id] = name
        return result

    @classmethod
    @ModelView.button_action('crm_lifecycle.wizard_timeline_open_document')
    def open_document(cls, rows):
        pass

    def get_document_action(self):
        """Return the values of the window action that opens the row's
        document"""
        pool = Pool()
        IrModel = pool.get('ir.model')
        document = self.document
        encoder = PYSONEncoder()
        return {
            'name': IrModel.get_name(document.__name__),
            'res_model': document.__name__,
            'res_id': [document.id],
            'pyson_domain': encoder.encode([('id', '=', document.id)]),
            'pyson_order': encoder.encode([]),
            'pyson_search_value': encoder.encode([]),
            'views': [(None, 'form'), (None, 'tree')],
            'domains': [],
            }

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
        if mode == 'write' and (
                field_names is None or field_names & {'party', 'company'}):
            # the e-mails sent from the documents follow their party
            Timeline.refresh_emails(cls.__name__, [r.id for r in records])

    @classmethod
    def on_delete(cls, records):
        Timeline = Pool().get('crm.timeline')
        callback = super().on_delete(records)
        ids = [r.id for r in records]
        # once the documents are gone
        callback.append(lambda: Timeline.refresh_emails(cls.__name__, ids))
        return callback


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


class Email(TimelineSourceMixin, metaclass=PoolMeta):
    __name__ = 'ir.email'


def _payment_invoice_ids(line_ids):
    "Return the ids of the invoices of which the move lines are payments"
    pool = Pool()
    PaymentLine = pool.get('account.invoice-account.move.line')
    payment_line = PaymentLine.__table__()
    cursor = Transaction().connection.cursor()
    invoice_ids = set()
    for sub_ids in grouped_slice(line_ids, backend.MAX_QUERY_PARAMS):
        cursor.execute(*payment_line.select(payment_line.invoice,
                where=reduce_ids(payment_line.line, list(sub_ids))))
        invoice_ids.update(i for i, in cursor)
    return sorted(invoice_ids)


class MoveLine(metaclass=PoolMeta):
    __name__ = 'account.move.line'

    # A payment line is a row of its invoices.

    @classmethod
    def on_modification(cls, mode, lines, field_names=None):
        super().on_modification(mode, lines, field_names=field_names)
        if mode == 'write' and (field_names is None or field_names & {
                    'move', 'debit', 'credit'}):
            invoice_ids = _payment_invoice_ids([line.id for line in lines])
            if invoice_ids:
                Timeline = Pool().get('crm.timeline')
                Timeline.refresh('account.invoice', invoice_ids)

    @classmethod
    def on_delete(cls, lines):
        Timeline = Pool().get('crm.timeline')
        callback = super().on_delete(lines)
        # the database deletes their payment links with them
        if invoice_ids := _payment_invoice_ids([line.id for line in lines]):
            callback.append(
                lambda: Timeline.refresh('account.invoice', invoice_ids))
        return callback


class InvoicePaymentLine(metaclass=PoolMeta):
    __name__ = 'account.invoice-account.move.line'

    @classmethod
    def on_modification(cls, mode, records, field_names=None):
        super().on_modification(mode, records, field_names=field_names)
        if mode != 'delete':
            Timeline = Pool().get('crm.timeline')
            Timeline.refresh(
                'account.invoice', [r.invoice.id for r in records])

    @classmethod
    def on_delete(cls, records):
        Timeline = Pool().get('crm.timeline')
        callback = super().on_delete(records)
        invoice_ids = [r.invoice.id for r in records]
        callback.append(
            lambda: Timeline.refresh('account.invoice', invoice_ids))
        return callback


class OpenDocument(Wizard):
    "Open the document of a timeline row"
    __name__ = 'crm.timeline.open_document'
    start_state = 'open_'
    open_ = StateAction('crm_lifecycle.act_timeline_document')

    def do_open_(self, action):
        action.update(self.record.get_document_action())
        return action, {}
