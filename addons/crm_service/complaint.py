# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from collections import defaultdict
from decimal import Decimal

from sql import Null
from trytond import backend
from trytond.i18n import gettext
from trytond.model import DeactivableMixin, Index, ModelSQL, ModelView, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from trytond.modules.crm_lifecycle.common import (
    SafeValuesMixin,
    check_state_fields,
    client_call,
)

from .exceptions import ComplaintError


class Cause(SafeValuesMixin, DeactivableMixin, ModelSQL, ModelView):
    "Complaint Cause"
    __string__ = "Complaint Cause"
    __name__ = 'sale.complaint.cause'

    name = fields.Char("Name", required=True, translate=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('name', 'ASC'))


class Complaint(SafeValuesMixin, metaclass=PoolMeta):
    __name__ = 'sale.complaint'

    _cost_states = {
        'readonly': Eval('state') == 'cancelled',
        }

    cause = fields.Many2One(
        'sale.complaint.cause', "Cause", ondelete='RESTRICT',
        states=_cost_states,
        help="Why the customer complains.")
    product = fields.Many2One(
        'product.product', "Product", ondelete='RESTRICT',
        context={
            'company': Eval('company', -1),
            },
        states=_cost_states, depends={'company'},
        help="The product the complaint is about.")
    internal_cost = Monetary(
        "Internal Cost", currency='currency', digits='currency',
        states=_cost_states,
        help="What handling the complaint costs the company, "
        "in its currency.")
    credit_amount = fields.Function(Monetary(
            "Credit", currency='currency', digits='currency',
            help="The untaxed amount of the credit notes and returns that "
            "the actions of the complaint created."),
        'get_credit_amount')
    total_cost = fields.Function(Monetary(
            "Total Cost", currency='currency', digits='currency',
            help="The internal cost and the credit."),
        'get_credit_amount')
    currency = fields.Function(fields.Many2One(
            'currency.currency', "Currency"),
        'on_change_with_currency')
    service_tickets = fields.One2Many(
        'service.ticket', 'complaint', "Service Tickets", readonly=True)

    del _cost_states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        # The complaint reports group by cause and product
        cls._sql_indexes.update({
                Index(t, (t.cause, Index.Range()), where=t.cause != Null),
                Index(t, (t.product, Index.Range()), where=t.product != Null),
                })

    @fields.depends('company')
    def on_change_with_currency(self, name=None):
        return self.company.currency if self.company else None

    @fields.depends('origin')
    def on_change_origin(self):
        super().on_change_origin()
        product = (getattr(self.origin, 'product', None)
            if self.origin and self.origin.id >= 0 else None)
        if product:
            self.product = product

    @classmethod
    def _get_credits(cls, complaints):
        """Return {complaint id: credit} in the company currency: the
        untaxed amount of the credit notes (invoice lines whose origin is the
        complaint) and of the returns (sales whose origin is the complaint)
        that are not cancelled"""
        pool = Pool()
        Currency = pool.get('currency.currency')
        Invoice = pool.get('account.invoice')
        InvoiceLine = pool.get('account.invoice.line')
        Sale = pool.get('sale.sale')
        SaleLine = pool.get('sale.line')
        cursor = Transaction().connection.cursor()
        invoice = Invoice.__table__()
        invoice_line = InvoiceLine.__table__()
        sale = Sale.__table__()
        sale_line = SaleLine.__table__()
        origins = {f'{cls.__name__},{c.id}': c for c in complaints}
        rows = []
        for sub_origins in grouped_slice(
                list(origins), backend.MAX_QUERY_PARAMS):
            sub_origins = list(sub_origins)
            cursor.execute(*invoice_line.join(invoice,
                    condition=invoice_line.invoice == invoice.id
                    ).select(
                    invoice_line.origin, invoice.currency,
                    invoice_line.quantity, invoice_line.unit_price,
                    where=invoice_line.origin.in_(sub_origins)
                    & (invoice_line.type == 'line')
                    & (invoice.state != 'cancelled')))
            rows.extend(cursor)
            cursor.execute(*sale.join(sale_line,
                    condition=sale_line.sale == sale.id
                    ).select(
                    sale.origin, sale.currency,
                    sale_line.quantity, sale_line.unit_price,
                    where=sale.origin.in_(sub_origins)
                    & (sale_line.type == 'line')
                    & (sale.state != 'cancelled')))
            rows.extend(cursor)
        currencies = {c.id: c for c in Currency.browse(
                list({r[1] for r in rows}))}
        amounts = defaultdict(Decimal)
        for origin, currency_id, quantity, unit_price in rows:
            if quantity is None or unit_price is None:
                continue
            amounts[origin, currency_id] += (
                Decimal(str(quantity)) * Decimal(str(unit_price)))
        credits = defaultdict(Decimal)
        for (origin, currency_id), amount in amounts.items():
            complaint = origins[origin]
            currency = currencies[currency_id]
            company_currency = complaint.company.currency
            # The documents carry the complained amounts as negative lines
            amount = -currency.round(amount)
            if currency != company_currency:
                amount = Currency.compute(currency, amount, company_currency)
            credits[complaint.id] += amount
        return credits

    @classmethod
    def get_credit_amount(cls, complaints, names):
        credits = cls._get_credits(complaints)
        result = {n: {} for n in names}
        for complaint in complaints:
            currency = complaint.company.currency
            credit = currency.round(credits.get(complaint.id, Decimal(0)))
            if 'credit_amount' in result:
                result['credit_amount'][complaint.id] = credit
            if 'total_cost' in result:
                result['total_cost'][complaint.id] = (
                    (complaint.internal_cost or Decimal(0)) + credit)
        return result

    @classmethod
    def check_modification(
            cls, mode, complaints, values=None, external=False):
        super().check_modification(
            mode, complaints, values=values, external=external)
        if mode == 'write' and client_call(external):
            cls.check_cost(complaints, values)

    @classmethod
    def check_cost(cls, complaints, values):
        "Refuse to change the cause and cost of cancelled complaints"
        # readonly holds in the client only
        check_state_fields(
            complaints, values, {'cause', 'product', 'internal_cost'},
            cls._cost_modifiable_states(),
            lambda complaint, field: ComplaintError(gettext(
                    'crm_service.msg_complaint_cost_cancelled',
                    complaint=complaint.rec_name, field=field)))

    @classmethod
    def _cost_modifiable_states(cls):
        "The states in which the cause and cost of a complaint change"
        return {s for s, _ in cls.state.selection} - {'cancelled'}

    @classmethod
    def copy(cls, complaints, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('service_tickets', None)
        return super().copy(complaints, default=default)
