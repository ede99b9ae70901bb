# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from collections import defaultdict
from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import (
    Index,
    ModelSQL,
    ModelView,
    Workflow,
    fields,
    sequence_ordered,
)
from trytond.modules.currency.fields import Monetary
from trytond.modules.product import round_price
from trytond.pool import Pool
from trytond.pyson import Eval, If
from trytond.transaction import Transaction, without_check_access

from trytond.modules.crm_lifecycle.common import (
    SafeValuesMixin,
    WorkflowFieldsMixin,
    check_state_fields,
    lock,
    touch,
    transition,
)

from .common import sign_off
from .exceptions import (
    MilestoneDeleteError,
    MilestoneLockedError,
    MilestoneValidationError,
    MilestoneWorkflowError,
)


class Milestone(
        WorkflowFieldsMixin, SafeValuesMixin, sequence_ordered(), Workflow,
        ModelSQL, ModelView):
    __string__ = "Project Milestone"
    __name__ = 'project.milestone'

    _states = {
        'readonly': ~Eval('state').in_(['planned', 'reached']),
        }

    project = fields.Many2One(
        'project.work', "Project", required=True, ondelete='CASCADE',
        domain=[
            ('type', '=', 'project'),
            ('company', '=', Eval('company', -1)),
            ],
        states=_states)
    company = fields.Many2One(
        'company.company', "Company", required=True, states=_states)
    name = fields.Char("Name", required=True, states=_states)
    planned_date = fields.Date("Planned Date", states=_states)
    deliverable = fields.Text("Deliverable", states=_states)
    amount_type = fields.Selection([
            ('percentage', "Percentage of Order"),
            ('fixed', "Fixed Amount"),
            ], "Amount Type", required=True, sort=False, states=_states)
    percentage = fields.Numeric(
        "Percentage", digits=(16, 4),
        domain=[
            If(Eval('amount_type') == 'percentage',
                ('percentage', '>=', 0),
                ()),
            ],
        states={
            'invisible': Eval('amount_type') != 'percentage',
            'required': Eval('amount_type') == 'percentage',
            'readonly': _states['readonly'],
            },
        help="The share of the untaxed amount of the order's project "
        "services.")
    fixed_amount = Monetary(
        "Fixed Amount", currency='currency', digits='currency',
        domain=[
            If(Eval('amount_type') == 'fixed',
                ('fixed_amount', '>=', 0),
                ()),
            ],
        states={
            'invisible': Eval('amount_type') != 'fixed',
            'required': Eval('amount_type') == 'fixed',
            'readonly': _states['readonly'],
            })
    amount = fields.Function(Monetary(
            "Amount", currency='currency', digits='currency',
            help="The untaxed amount to invoice; the last milestone takes "
            "the rounding difference to the untaxed amount of the order's "
            "project services."),
        'get_amount')
    invoiced_amount = Monetary(
        "Invoiced Amount", currency='currency', digits='currency',
        readonly=True)
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"),
        'on_change_with_currency')
    sale = fields.Function(
        fields.Many2One('sale.sale', "Sale"), 'on_change_with_sale')
    party = fields.Function(
        fields.Many2One(
            'party.party', "Party",
            context={
                'company': Eval('company', -1),
                },
            depends={'company'}),
        'on_change_with_party')
    reached_date = fields.Date(
        "Reached On",
        states={
            'readonly': ~Eval('state').in_(['planned', 'reached']),
            })
    accepted_by = fields.Many2One(
        'party.contact_mechanism', "Accepted By",
        domain=[
            ('party', '=', Eval('party', -1)),
            ],
        context={
            'company': Eval('company', -1),
            },
        depends={'company'},
        states={
            'readonly': ~Eval('state').in_(['planned', 'reached']),
            },
        help="The customer contact who accepted the milestone.")
    accepted_date = fields.Date(
        "Accepted On",
        states={
            'readonly': ~Eval('state').in_(['planned', 'reached']),
            })
    acceptance_note = fields.Text(
        "Acceptance Note",
        states={
            'readonly': ~Eval('state').in_(['planned', 'reached']),
            })
    invoice_line = fields.Many2One(
        'account.invoice.line', "Invoice Line", readonly=True)
    invoice = fields.Many2One(
        'account.invoice', "Invoice", readonly=True)
    state = fields.Selection([
            ('planned', "Planned"),
            ('reached', "Reached"),
            ('accepted', "Accepted"),
            ('invoiced', "Invoiced"),
            ('paid', "Paid"),
            ('cancelled', "Cancelled"),
            ], "State", required=True, readonly=True, sort=False)

    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.project, Index.Range())),
                Index(t, (t.invoice, Index.Range())),
                Index(t,
                    (t.planned_date, Index.Range()),
                    where=t.state.in_(['planned', 'reached', 'accepted'])),
                })
        cls._order = [
            ('project', 'ASC'), ('sequence', 'ASC NULLS LAST'),
            ('id', 'ASC')]
        cls._transitions |= {
            ('planned', 'reached'),
            ('reached', 'planned'),
            ('reached', 'accepted'),
            ('accepted', 'invoiced'),
            ('invoiced', 'paid'),
            ('invoiced', 'accepted'),
            ('planned', 'cancelled'),
            ('reached', 'cancelled'),
            ('accepted', 'cancelled'),
            ('cancelled', 'planned'),
            }
        cls._buttons.update({
                'plan': {
                    'invisible': ~Eval('state').in_(
                        ['reached', 'cancelled']),
                    'icon': 'tryton-undo',
                    'depends': ['state'],
                    },
                'reach': {
                    'invisible': Eval('state') != 'planned',
                    'icon': 'tryton-forward',
                    'depends': ['state'],
                    },
                'accept': {
                    'invisible': Eval('state') != 'reached',
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                # Visible from reached so that the user learns that the
                # customer must accept first
                'create_invoice': {
                    'invisible': ~Eval('state').in_(['reached', 'accepted']),
                    'icon': 'tryton-forward',
                    'depends': ['state'],
                    },
                'cancel': {
                    'invisible': Eval('state') == 'cancelled',
                    'icon': 'tryton-cancel',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_amount_type(cls):
        return 'percentage'

    @classmethod
    def default_state(cls):
        return 'planned'

    @fields.depends('project', '_parent_project.sale', 'company')
    def on_change_with_currency(self, name=None):
        if self.project and self.project.sale:
            return self.project.sale.currency
        return self.company.currency if self.company else None

    @fields.depends('project', '_parent_project.sale')
    def on_change_with_sale(self, name=None):
        return self.project.sale if self.project else None

    @fields.depends('project', '_parent_project.party')
    def on_change_with_party(self, name=None):
        return self.project.party if self.project else None

    @fields.depends('project', '_parent_project.company')
    def on_change_project(self):
        if self.project and self.project.company:
            self.company = self.project.company

    @classmethod
    def _open_states(cls):
        "The states of milestones that count for the order"
        return ['planned', 'reached', 'accepted', 'invoiced', 'paid']

    @classmethod
    def _uninvoiced_states(cls):
        "The states of milestones that are still to invoice"
        return ['planned', 'reached', 'accepted']

    @staticmethod
    def _order_amount(project):
        """The untaxed amount the percentages refer to: the project services
        of the order, which the order does not invoice itself"""
        if project.sale:
            return project.sale.project_amount
        return Decimal(0)

    @staticmethod
    def _project_currency(project):
        "The currency of the milestones: the order's, else the company's"
        if project.sale:
            return project.sale.currency
        return project.company.currency

    @classmethod
    def _project_amounts(cls, projects):
        "Return {milestone id: amount} for all milestones of the projects"
        milestones = cls.search([
                ('project', 'in', [p.id for p in projects]),
                ('state', 'in', cls._open_states()),
                ], order=[
                ('project', 'ASC'), ('sequence', 'ASC NULLS LAST'),
                ('id', 'ASC')])
        by_project = defaultdict(list)
        for milestone in milestones:
            by_project[milestone.project].append(milestone)
        amounts = {}
        for project, p_milestones in by_project.items():
            total = cls._order_amount(project)
            currency = cls._project_currency(project)
            exact = []
            for milestone in p_milestones:
                if milestone.amount_type == 'percentage':
                    value = total * (milestone.percentage or 0)
                else:
                    value = milestone.fixed_amount or Decimal(0)
                exact.append(value)
                if milestone.invoiced_amount is not None:
                    value = milestone.invoiced_amount
                amounts[milestone.id] = currency.round(value)
            last = p_milestones[-1]
            # The rounding difference goes to the last milestone when the
            # milestones cover the whole order
            if (total and sum(exact) == total
                    and last.invoiced_amount is None):
                amounts[last.id] = total - sum(
                    amounts[m.id] for m in p_milestones[:-1])
        return amounts

    @classmethod
    def get_amount(cls, milestones, name):
        amounts = cls._project_amounts({m.project for m in milestones})
        result = {}
        for milestone in milestones:
            if milestone.id in amounts:
                result[milestone.id] = amounts[milestone.id]
            elif milestone.invoiced_amount is not None:
                result[milestone.id] = milestone.invoiced_amount
            elif milestone.amount_type == 'fixed':
                result[milestone.id] = milestone.fixed_amount
            else:
                result[milestone.id] = cls._project_currency(
                    milestone.project).round(
                    cls._order_amount(milestone.project)
                    * (milestone.percentage or 0))
        return result

    @classmethod
    def validate_fields(cls, milestones, field_names):
        super().validate_fields(milestones, field_names)
        cls.check_order_share(milestones, field_names)

    @classmethod
    def check_order_share(cls, milestones, field_names=None):
        "Check that the milestones do not exceed the order"
        if field_names and not (field_names & {
                    'project', 'amount_type', 'percentage', 'fixed_amount',
                    'state'}):
            return
        projects = {m.project for m in milestones}
        others = cls.search([
                ('project', 'in', [p.id for p in projects]),
                ('state', 'in', cls._open_states()),
                ])
        shares = defaultdict(Decimal)
        for milestone in others:
            project = milestone.project
            total = cls._order_amount(project)
            if milestone.amount_type == 'percentage':
                shares[project] += milestone.percentage or 0
            elif total:
                shares[project] += (milestone.fixed_amount or 0) / total
        for project, share in shares.items():
            if share > 1:
                raise MilestoneValidationError(gettext(
                        'crm_projects.msg_milestone_over_order',
                        project=project.rec_name,
                        # format() rounds without the context's precision,
                        # which huge shares exceed
                        share=format(share * 100, '.2f')))

    @classmethod
    def _workflow_fields(cls):
        return super()._workflow_fields() | {
            'invoice', 'invoice_line', 'invoiced_amount'}

    @classmethod
    def _editable_states(cls):
        "The states in which the terms and the sign-off may change"
        return ['planned', 'reached']

    @classmethod
    def _locked_fields(cls):
        "The fields fixed once the milestone is accepted or cancelled"
        return {
            'project', 'company', 'name', 'planned_date', 'deliverable',
            'amount_type', 'percentage', 'fixed_amount', 'reached_date',
            'accepted_by', 'accepted_date', 'acceptance_note'}

    @classmethod
    def _order_share_fields(cls):
        "The fields that change the share of the order"
        return {'project', 'amount_type', 'percentage', 'fixed_amount',
            'state'}

    @classmethod
    def _lock_projects(cls, project_ids):
        """Serialize the changes of the milestones of the projects, so that
        check_order_share sees those of concurrent transactions.

        Locked before the milestones are inserted: an insert takes a key
        share lock on the project which would deadlock with a later lock."""
        pool = Pool()
        Work = pool.get('project.work')
        # What is not an id is refused with the other values, after
        projects = Work.browse(sorted(
                i for i in project_ids if isinstance(i, int)))
        lock(projects)
        touch(projects)

    @classmethod
    def create(cls, vlist):
        cls._lock_projects({
                v['project'] for v in vlist if v.get('project') is not None})
        return super().create(vlist)

    @classmethod
    def write(cls, *args):
        project_ids = set()
        actions = iter(args)
        for milestones, values in zip(actions, actions):
            if values.keys() & cls._order_share_fields():
                project_ids.update(m.project.id for m in milestones)
                if values.get('project') is not None:
                    project_ids.add(values['project'])
        cls._lock_projects(project_ids)
        super().write(*args)

    @classmethod
    def check_modification(cls, mode, milestones, values=None,
            external=False):
        super().check_modification(
            mode, milestones, values=values, external=external)
        if mode == 'write':
            check_state_fields(
                milestones, values, cls._locked_fields(),
                cls._editable_states(),
                lambda milestone, field: MilestoneLockedError(gettext(
                        'crm_projects.msg_milestone_locked',
                        milestone=milestone.rec_name, field=field)))
        elif mode == 'delete':
            for milestone in milestones:
                if milestone.invoice or milestone.state in {
                        'invoiced', 'paid'}:
                    raise MilestoneDeleteError(gettext(
                            'crm_projects.msg_milestone_delete_invoiced',
                            milestone=milestone.rec_name))

    @classmethod
    def copy(cls, milestones, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('state', 'planned')
        for name in ['reached_date', 'accepted_by', 'accepted_date',
                'acceptance_note', 'invoice', 'invoice_line',
                'invoiced_amount']:
            default.setdefault(name, None)
        return super().copy(milestones, default=default)

    def _get_invoice(self):
        "Return the customer invoice for the milestone"
        pool = Pool()
        Invoice = pool.get('account.invoice')
        project = self.project
        if project.sale:
            invoice = project.sale._get_invoice()
        else:
            party = project.party
            invoice = Invoice(
                company=self.company,
                type='out',
                party=party,
                invoice_address=party.address_get(type='invoice'),
                currency=self.company.currency,
                account=party.account_receivable_used,
                payment_term=party.customer_payment_term,
                )
            invoice.set_journal()
        invoice.description = self.rec_name
        return invoice

    @property
    def billed_lines(self):
        "The invoice lines that bill the milestone"
        if not self.invoice:
            return [self.invoice_line] if self.invoice_line else []
        sale = self.project.sale
        origins = {self, *(sale.project_lines if sale else [])}
        return [line for line in self.invoice.lines
            if line.origin in origins]

    def _get_invoice_lines(self, invoice, amount, billed, complete=False):
        """Return the invoice lines that bill amount for the milestone.

        The amount is shared among the project services of the order, one
        line for each with the sale line as origin, so that the order sees
        its invoices. billed is {sale line: amount billed} and is updated;
        the milestone that completes the order (complete) bills what is
        left of each sale line."""
        sale = self.project.sale
        if not sale or not sale.project_lines:
            return [self._get_invoice_line(invoice, amount)]
        parts = self._share_amount(
            amount, sale.project_lines, billed, complete)
        parts = [(line, a) for line, a in parts if a] or parts[:1]
        lines = []
        for sale_line, part in parts:
            billed[sale_line] += part
            lines.append(self._get_sale_invoice_line(invoice, sale_line, part))
        return lines

    def _share_amount(self, amount, sale_lines, billed, complete):
        "Return [(sale line, amount)] that share amount as the sale lines do"
        if complete:
            parts = [(line, line.amount - billed[line])
                for line in sale_lines]
            if sum(a for _, a in parts) == amount:
                return parts
        total = sum(line.amount for line in sale_lines)
        parts, rest = [], amount
        for sale_line in sale_lines[:-1]:
            part = (self.currency.round(amount * sale_line.amount / total)
                if total else Decimal(0))
            parts.append((sale_line, part))
            rest -= part
        parts.append((sale_lines[-1], rest))
        return parts

    @staticmethod
    def _invoice_quantity(sale_line, amount, currency):
        """Return the unit, quantity and unit price that bill amount of the
        sale line, in the unit of the sale line if they can, so that the
        order counts the quantity invoiced"""
        unit, price = sale_line.unit, sale_line.unit_price
        if not price:
            return None, 1, amount
        quantity = float(amount / price)
        if unit and unit.round(quantity):
            quantity = unit.round(quantity)
            unit_price = round_price(amount / Decimal(str(quantity)))
            if currency.round(
                    Decimal(str(quantity)) * unit_price) == amount:
                return unit, quantity, unit_price
        # Without unit the quantity has no digits: the exact share at the
        # price of the order
        return None, quantity, price

    def _get_sale_invoice_line(self, invoice, sale_line, amount):
        "Return the invoice line that bills amount of the sale line"
        pool = Pool()
        InvoiceLine = pool.get('account.invoice.line')
        line = InvoiceLine(
            type='line',
            invoice_type='out',
            company=self.company,
            currency=invoice.currency,
            description=self.rec_name,
            origin=sale_line,
            taxes=sale_line.taxes,
            account=sale_line.product.account_revenue_used,
            )
        line.unit, line.quantity, line.unit_price = self._invoice_quantity(
            sale_line, amount, invoice.currency)
        if line.unit:
            line.product = sale_line.product
        if not line.account:
            raise MilestoneWorkflowError(gettext(
                    'crm_projects.msg_milestone_missing_account',
                    milestone=self.rec_name))
        return line

    def _get_invoice_line(self, invoice, amount):
        "Return the invoice line of a milestone of a project without order"
        pool = Pool()
        InvoiceLine = pool.get('account.invoice.line')
        AccountConfiguration = pool.get('account.configuration')
        config = AccountConfiguration(1)
        line = InvoiceLine(
            type='line',
            invoice_type='out',
            company=self.company,
            currency=invoice.currency,
            description=self.rec_name,
            quantity=1,
            unit_price=amount,
            origin=self,
            account=config.get_multivalue(
                'default_category_account_revenue',
                company=self.company.id),
            taxes=[],
            )
        if not line.account:
            raise MilestoneWorkflowError(gettext(
                    'crm_projects.msg_milestone_missing_account',
                    milestone=self.rec_name))
        return line

    @classmethod
    @ModelView.button
    @transition('planned')
    def plan(cls, milestones):
        pass

    @classmethod
    @ModelView.button
    @transition('reached')
    def reach(cls, milestones):
        pool = Pool()
        Date = pool.get('ir.date')
        today = Date.today()
        for milestone in milestones:
            if not milestone.reached_date:
                milestone.reached_date = today
        cls.save(milestones)

    @classmethod
    @ModelView.button
    @transition('accepted')
    def accept(cls, milestones):
        # invoiced -> accepted is the way back of a cancelled invoice
        # (set_invoice_cancelled), not the customer's acceptance
        for milestone in milestones:
            if milestone.state != 'reached':
                raise MilestoneWorkflowError(gettext(
                        'crm_projects.msg_milestone_accept_invoiced',
                        milestone=milestone.rec_name))
        sign_off(milestones, 'accepted_by', 'accepted_date',
            lambda milestone: MilestoneWorkflowError(gettext(
                    'crm_projects.msg_milestone_accept_contact',
                    milestone=milestone.rec_name)))
        cls.save(milestones)

    @classmethod
    def _check_invoice(cls, milestones):
        "Check that the milestones can be invoiced, all before any is"
        for milestone in milestones:
            if milestone.invoice or milestone.state in {'invoiced', 'paid'}:
                raise MilestoneWorkflowError(gettext(
                        'crm_projects.msg_milestone_already_invoiced',
                        milestone=milestone.rec_name))
            if milestone.state != 'accepted':
                raise MilestoneWorkflowError(gettext(
                        'crm_projects.msg_milestone_invoice_not_accepted',
                        milestone=milestone.rec_name))

    @classmethod
    @ModelView.button
    def create_invoice(cls, milestones):
        # Locked before the check so that concurrent clicks invoice once:
        # the transition changes the locked rows
        lock(milestones)
        # and the projects, so that the milestone that completes the order
        # sees the others invoiced
        cls._lock_projects({m.project.id for m in milestones})
        cls._check_invoice(milestones)
        cls._invoice(milestones)
        # A button answers the client with an action or nothing: the
        # milestone shows its invoice.

    @classmethod
    @transition('invoiced')
    def _invoice(cls, milestones):
        pool = Pool()
        Invoice = pool.get('account.invoice')
        amounts = cls.get_amount(milestones, 'amount')
        completing = cls._completing(milestones)
        billed = {
            line: line.project_invoiced_amount
            for sale in {m.project.sale for m in milestones} if sale
            for line in sale.project_lines}
        invoices = []
        for milestone in milestones:
            invoice = milestone._get_invoice()
            invoice.lines = milestone._get_invoice_lines(
                invoice, amounts[milestone.id], billed,
                complete=milestone in completing)
            invoices.append(invoice)
        # The invoice is the milestone's consequence, not a right of the
        # project user on accounting
        with without_check_access():
            Invoice.save(invoices)
            Invoice.update_taxes(invoices)
            cls._complete_taxes([
                    (m, i) for m, i in zip(milestones, invoices)
                    if m in completing])
        for milestone, invoice in zip(milestones, invoices):
            milestone.invoice = invoice
            milestone.invoice_line = invoice.lines[0]
            milestone.invoiced_amount = amounts[milestone.id]
        cls.save(milestones)

    @classmethod
    def _completing(cls, milestones):
        """Return the milestones whose invoice completes their order: the
        last of the project's milestones left to invoice"""
        pending = cls.search([
                ('project', 'in', list({m.project.id for m in milestones})),
                ('state', 'in', cls._uninvoiced_states()),
                ('id', 'not in', [m.id for m in milestones]),
                ])
        pending = {m.project for m in pending}
        last = {m.project: m for m in milestones if m.project.sale}
        return {m for p, m in last.items() if p not in pending}

    @classmethod
    def _complete_taxes(cls, milestone_invoices):
        """Give the invoice of the milestone that completes its order the
        rest of the order's taxes on the project services.

        Each invoice rounds its own taxes, so the invoices of an order add up
        to a cent more or less than the order. The completing invoice takes
        that difference on its computed (not manual) tax lines: the base
        stays as computed, so update_taxes and the check when posting keep
        the amount. Only when the invoices bill exactly the bases of the
        order and the difference is the rounding of each invoice."""
        pool = Pool()
        Invoice = pool.get('account.invoice')
        InvoiceTax = pool.get('account.invoice.tax')
        to_write = []
        for milestone, invoice in milestone_invoices:
            sale = milestone.project.sale
            others = Invoice.search([
                    ('lines.origin', 'in',
                        [str(line) for line in sale.project_lines]),
                    ('state', '!=', 'cancelled'),
                    ('id', '!=', invoice.id),
                    ])
            billed = defaultdict(lambda: [Decimal(0), Decimal(0)])
            for other in others:
                for tax in other.taxes:
                    billed[tax._key][0] += tax.base
                    billed[tax._key][1] += tax.amount
            order_taxes = sale.get_project_taxes()
            tolerance = invoice.currency.rounding * (len(others) + 1)
            for tax in invoice.taxes:
                order_tax = order_taxes.get(tax._key)
                if tax.manual or not order_tax:
                    continue
                base, amount = billed[tax._key]
                if order_tax.base != base + tax.base:
                    continue
                amount = order_tax.amount - amount
                if (amount != tax.amount
                        and abs(amount - tax.amount) <= tolerance):
                    to_write.extend(([tax], {'amount': amount}))
        if to_write:
            InvoiceTax.write(*to_write)

    @classmethod
    @ModelView.button
    def cancel(cls, milestones):
        lock(milestones)
        for milestone in milestones:
            if milestone.state == 'cancelled':
                raise MilestoneWorkflowError(gettext(
                        'crm_projects.msg_milestone_already_cancelled',
                        milestone=milestone.rec_name))
            if milestone.invoice or milestone.state in {'invoiced', 'paid'}:
                raise MilestoneWorkflowError(gettext(
                        'crm_projects.msg_milestone_cancel_invoiced',
                        milestone=milestone.rec_name))
        cls._cancel(milestones)

    @classmethod
    @transition('cancelled')
    def _cancel(cls, milestones):
        pass

    @classmethod
    @transition('paid')
    def set_paid(cls, milestones):
        "Follow the invoices that are paid"
        pass

    @classmethod
    def set_invoice_cancelled(cls, milestones):
        "Accept again the milestones whose invoice is cancelled"
        cls._reaccept([m for m in milestones if m.state == 'invoiced'])

    @classmethod
    @transition('accepted')
    def _reaccept(cls, milestones):
        cls.write(milestones, {
                'invoice': None,
                'invoice_line': None,
                'invoiced_amount': None,
                })
