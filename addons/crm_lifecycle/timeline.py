# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from sql import Cast, Literal, Null, Union
from sql.aggregate import Sum
from sql.conditionals import Coalesce
from sql.operators import Concat
from trytond.model import ModelSQL, ModelView, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool
from trytond.pyson import Eval

from .activity import ACTIVITY_TYPES
from .common import model_selection

# A timeline row id is the source id times ID_SPAN plus the source's code,
# so each source keeps its own range of ids.
ID_SPAN = 100


class Timeline(ModelSQL, ModelView):
    __string__ = "CRM Timeline"
    __name__ = 'crm.timeline'

    party = fields.Many2One(
        'party.party', "Party", readonly=True,
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
    currency = fields.Many2One('currency.currency', "Currency", readonly=True)
    description = fields.Function(
        fields.Char("Description"), 'get_description')
    state = fields.Char("State Code", readonly=True)
    state_string = fields.Function(
        fields.Char("State"), 'get_state_string')
    document = fields.Reference(
        "Document", selection='get_documents', readonly=True)
    employee = fields.Many2One('company.employee', "Employee", readonly=True)
    company = fields.Many2One('company.company', "Company", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('date', 'DESC'), ('id', 'DESC')]

    @classmethod
    def _get_documents(cls):
        return [
            'crm.activity', 'sale.opportunity', 'sale.sale',
            'account.invoice', 'crm.lifecycle.history']

    @classmethod
    def get_documents(cls):
        return model_selection(cls._get_documents())

    @classmethod
    def _columns(cls, code, table, model_name, party, date, kind, summary,
            amount=None, currency=None, state=None, employee=None,
            company=None):
        "Return the columns of a timeline source query in the right order"
        def typed(value, type_):
            if value is None:
                return Cast(Literal(None), type_)
            return value
        return [
            (table.id * ID_SPAN + code).as_('id'),
            party.as_('party'),
            cls.date.sql_cast(date).as_('date'),
            kind.as_('kind'),
            Cast(summary, cls.summary.sql_type().base).as_('summary'),
            Cast(typed(amount, cls.amount.sql_type().base),
                cls.amount.sql_type().base).as_('amount'),
            typed(currency, cls.currency.sql_type().base).as_('currency'),
            Cast(typed(state, 'VARCHAR'), cls.state.sql_type().base).as_(
                'state'),
            Concat(model_name + ',', table.id).as_('document'),
            typed(employee, cls.employee.sql_type().base).as_('employee'),
            typed(company, cls.company.sql_type().base).as_('company'),
            ]

    @classmethod
    def _timeline_queries(cls):
        "Return the source queries; other modules add theirs"
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
            activity.select(*cls._columns(
                    1, activity, 'crm.activity',
                    party=activity.party, date=activity.date,
                    kind=activity.activity_type, summary=activity.subject,
                    state=activity.state, employee=activity.employee,
                    company=activity.company)),
            opportunity.select(*cls._columns(
                    2, opportunity, 'sale.opportunity',
                    party=opportunity.party, date=opportunity.start_date,
                    kind=Literal('opportunity'),
                    summary=Coalesce(
                        opportunity.description, opportunity.number),
                    amount=opportunity.amount, currency=opportunity.currency,
                    state=opportunity.state, employee=opportunity.employee,
                    company=opportunity.company),
                where=opportunity.party != Null),
            sale.select(*cls._columns(
                    3, sale, 'sale.sale',
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
                    company=sale.company)),
            invoice.select(*cls._columns(
                    4, invoice, 'account.invoice',
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
                where=invoice.type == 'out'),
            history.select(*cls._columns(
                    5, history, 'crm.lifecycle.history',
                    party=history.party, date=history.date,
                    kind=Literal('stage'),
                    summary=Coalesce(history.from_stage, ''),
                    state=history.to_stage)),
            ]

    @classmethod
    def table_query(cls):
        return Union(*cls._timeline_queries(), all_=True)

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
