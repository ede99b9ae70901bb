# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime
from collections import defaultdict
from decimal import Decimal

from sql import Literal, Null
from sql.aggregate import Sum
from sql.operators import Concat
from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelView, Unique, fields, sum_tree
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction, without_check_access

from trytond.modules.crm_lifecycle.common import (
    SafeValuesMixin,
    WorkflowFieldsMixin,
    lock,
    touch,
    workflow_writes,
)

BUDGET_THRESHOLDS = [
    ('80', "80 %"),
    ('100', "100 %"),
    ]


def _hours(value):
    "Convert a summed duration as the backend returns it to hours"
    if not value:
        return 0.0
    if isinstance(value, datetime.timedelta):
        return value.total_seconds() / 60 / 60
    # SQLite sums durations as seconds
    return float(value) / 60 / 60


class Work(WorkflowFieldsMixin, SafeValuesMixin, metaclass=PoolMeta):
    __name__ = 'project.work'

    sale = fields.Many2One(
        'sale.sale', "Sale", readonly=True, ondelete='RESTRICT',
        states={
            'invisible': Eval('type') != 'project',
            },
        help="The order the project was created from.")
    sale_line = fields.Many2One(
        'sale.line', "Sale Line", readonly=True, ondelete='RESTRICT',
        states={
            'invisible': ~Eval('sale_line'),
            },
        help="The sold project service the task carries out.")
    project_manager = fields.Many2One(
        'company.employee', "Project Manager",
        domain=[
            ('company', '=', Eval('company', -1)),
            ],
        states={
            'invisible': Eval('type') != 'project',
            },
        help="Who receives the budget alerts of the project.")
    milestones = fields.One2Many(
        'project.milestone', 'project', "Milestones",
        states={
            'invisible': Eval('type') != 'project',
            })
    agreements = fields.One2Many(
        'project.agreement', 'project', "Agreements",
        states={
            'invisible': Eval('type') != 'project',
            })
    protocols = fields.One2Many(
        'project.protocol', 'project', "Protocols",
        states={
            'invisible': Eval('type') != 'project',
            })
    sold_hours = fields.Function(
        fields.Float("Sold Hours"), 'get_budget')
    billable_hours = fields.Function(
        fields.Float("Billable Hours"), 'get_budget')
    non_billable_hours = fields.Function(
        fields.Float("Non-billable Hours"), 'get_budget')
    invoiced_hours = fields.Function(
        fields.Float("Invoiced Hours"), 'get_budget')
    remaining_hours = fields.Function(
        fields.Float("Remaining Hours"), 'get_budget')
    hours_used = fields.Function(
        fields.Float(
            "Used",
            help="The logged hours as a share of the sold hours."),
        'get_budget')
    sold_amount = fields.Function(Monetary(
            "Sold Amount", currency='currency', digits='currency',
            help="The untaxed amount of the project services of the order."),
        'get_budget')
    time_cost = fields.Function(Monetary(
            "Cost of Time", currency='currency', digits='currency',
            help="The cost of the time logged, at the employees' "
            "cost prices."),
        'get_budget')
    invoiced_sale_amount = fields.Function(Monetary(
            "Invoiced Amount", currency='currency', digits='currency',
            help="The untaxed amount invoiced for the project services of "
            "the order."),
        'get_budget')
    remaining_amount = fields.Function(Monetary(
            "Remaining Amount", currency='currency', digits='currency',
            help="The sold amount less the cost of time."),
        'get_budget')
    budget_alerts = fields.MultiSelection(
        BUDGET_THRESHOLDS, "Budget Alerts", readonly=True, sort=False,
        help="The thresholds of sold hours for which the project manager "
        "has been alerted.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('sale_unique', Unique(t, t.sale),
                'crm_projects.msg_project_sale_unique'),
            ]
        # The figures of parties start from their projects (the works
        # below are found by parent, which upstream indexes)
        cls._sql_indexes.add(
            Index(t, (t.party, Index.Range()), where=t.party != Null))
        # The order is the origin of the project it created (upstream
        # allows an origin on tasks only)
        cls.type.domain = [
            If(Eval('origin', None) & ~Eval('sale', None),
                ('type', '=', 'task'),
                ()),
            ]
        cls.type.depends = cls.type.depends | {'sale'}

    @classmethod
    def __register__(cls, module):
        cursor = Transaction().connection.cursor()
        table = cls.__table__()
        super().__register__(module)
        # Migration: the projects created before the order became their
        # origin
        cursor.execute(*table.update(
                [table.origin],
                [Concat('sale.sale,', table.sale)],
                where=(table.sale != Null) & (table.origin == Null)
                & (table.type == 'project')))

    @classmethod
    def _get_origins(cls):
        return super()._get_origins() + ['sale.sale']

    @classmethod
    def _workflow_fields(cls):
        # The links to the order (and the order as origin) and the alerts
        # are set when the order is confirmed and when time is logged; the
        # invoice line by invoicing
        return super()._workflow_fields() | {
            'sale', 'origin', 'sale_line', 'budget_alerts', 'invoice_line'}

    @classmethod
    def on_modification(cls, mode, works, field_names=None):
        pool = Pool()
        Sale = pool.get('sale.sale')
        super().on_modification(mode, works, field_names=field_names)
        # A done task may complete its order (time and material)
        if mode == 'write' and 'status' in field_names:
            sales = {w.sale_line.sale for w in works if w.sale_line}
            if sales:
                Sale.__queue__.process(list(sales))

    @classmethod
    def copy(cls, works, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('sale', None)
        default.setdefault('origin', None)
        default.setdefault('sale_line', None)
        default.setdefault('milestones', None)
        default.setdefault('agreements', None)
        default.setdefault('protocols', None)
        default.setdefault('budget_alerts', None)
        return super().copy(works, default=default)

    @property
    def root_project(self):
        "The project the work belongs to"
        work = self
        while work.parent and work.type != 'project':
            work = work.parent
        return work

    @property
    def is_closed(self):
        return bool(self.status and self.status.progress == 1)

    @classmethod
    def _get_logged_hours(cls, works):
        "Return {work id: (billable, non billable, invoiced)} of own lines"
        pool = Pool()
        TimesheetWork = pool.get('timesheet.work')
        TimesheetLine = pool.get('timesheet.line')
        cursor = Transaction().connection.cursor()
        table = cls.__table__()
        twork = TimesheetWork.__table__()
        line = TimesheetLine.__table__()
        result = {}
        for sub_ids in grouped_slice(
                [w.id for w in works], backend.MAX_QUERY_PARAMS):
            query = table.join(twork,
                condition=(
                    Concat(cls.__name__ + ',', table.id) == twork.origin)
                ).join(line, condition=line.work == twork.id
                ).select(
                    table.id,
                    Sum(line.duration,
                        filter_=line.billable == Literal(True)),
                    Sum(line.duration,
                        filter_=line.billable != Literal(True)),
                    Sum(line.duration,
                        filter_=line.invoice_line != Null),
                    where=reduce_ids(table.id, sub_ids),
                    group_by=table.id)
            cursor.execute(*query)
            for work_id, billable, non_billable, invoiced in cursor:
                result[work_id] = (
                    _hours(billable), _hours(non_billable), _hours(invoiced))
        return result

    @classmethod
    def _get_sold_amounts(cls, works):
        """Return {work id: (sold, invoiced)} of the own sale line in the
        company currency: the untaxed amount of the line and of its lines on
        invoices that are not cancelled"""
        pool = Pool()
        SaleLine = pool.get('sale.line')
        Sale = pool.get('sale.sale')
        InvoiceLine = pool.get('account.invoice.line')
        Invoice = pool.get('account.invoice')
        Currency = pool.get('currency.currency')
        Company = pool.get('company.company')
        cursor = Transaction().connection.cursor()
        table = cls.__table__()
        sale_line = SaleLine.__table__()
        sale = Sale.__table__()
        invoice_line = InvoiceLine.__table__()
        invoice = Invoice.__table__()

        lines = {}  # work id: (sale line id, company id, amount row)
        for sub_ids in grouped_slice(
                [w.id for w in works], backend.MAX_QUERY_PARAMS):
            cursor.execute(*table.join(sale_line,
                    condition=table.sale_line == sale_line.id
                    ).join(sale, condition=sale_line.sale == sale.id
                    ).select(
                    table.id, sale_line.id, table.company,
                    sale_line.quantity, sale_line.unit_price, sale.currency,
                    where=reduce_ids(table.id, sub_ids)))
            for work_id, line_id, company_id, *row in cursor:
                lines[work_id] = (line_id, company_id, row)

        line2work = {f'sale.line,{line_id}': w
            for w, (line_id, _, _) in lines.items()}
        invoiced_rows = []
        for sub_origins in grouped_slice(
                list(line2work), backend.MAX_QUERY_PARAMS):
            cursor.execute(*invoice_line.join(invoice,
                    condition=invoice_line.invoice == invoice.id
                    ).select(
                    invoice_line.origin, invoice_line.quantity,
                    invoice_line.unit_price, invoice.currency,
                    where=invoice_line.origin.in_(list(sub_origins))
                    & (invoice_line.type == 'line')
                    & (invoice.state != 'cancelled')))
            invoiced_rows.extend(
                (line2work[origin], row) for origin, *row in cursor)

        company_currencies = {c.id: c.currency for c in Company.browse(
                list({c for _, c, _ in lines.values()}))}
        currencies = {c.id: c for c in Currency.browse(list(
                    {r[2] for _, _, r in lines.values()}
                    | {r[2] for _, r in invoiced_rows}))}

        def amount(work_id, quantity, unit_price, currency_id):
            "The amount of the row in the company currency of the work"
            if quantity is None or unit_price is None:
                return Decimal(0)
            currency = currencies[currency_id]
            value = currency.round(
                Decimal(str(quantity)) * Decimal(str(unit_price)))
            company_currency = company_currencies[lines[work_id][1]]
            if currency != company_currency:
                value = Currency.compute(currency, value, company_currency)
            return value

        invoiced = defaultdict(Decimal)
        for work_id, row in invoiced_rows:
            invoiced[work_id] += amount(work_id, *row)
        return {w: (amount(w, *row), invoiced[w])
            for w, (_, _, row) in lines.items()}

    @classmethod
    def get_budget(cls, works, names):
        all_works = cls.search([
                ('parent', 'child_of', [w.id for w in works]),
                ])
        logged = cls._get_logged_hours(all_works)
        sold = sum_tree(all_works, {
                w.id: (w.effort_duration.total_seconds() / 60 / 60
                    if w.effort_duration else 0.0)
                for w in all_works})
        empty = (0.0, 0.0, 0.0)
        billable, non_billable, invoiced = (
            sum_tree(all_works, {
                    w.id: logged.get(w.id, empty)[i] for w in all_works})
            for i in range(3))
        money = {'sold_amount', 'time_cost', 'invoiced_sale_amount',
            'remaining_amount'}
        if money & set(names):
            amounts = cls._get_sold_amounts(all_works)
            zero = (Decimal(0), Decimal(0))
            sold_amount, invoiced_amount = (
                sum_tree(all_works, {
                        w.id: amounts.get(w.id, zero)[i] for w in all_works})
                for i in range(2))
            time_cost = sum_tree(all_works, defaultdict(Decimal, {
                        w: c for w, c in cls._timesheet_cost(all_works)}))
        result = {n: {} for n in names}
        for work in works:
            # Function fields without digits are not read by the digits
            # validation of each save, so round here
            values = {
                'sold_hours': round(sold.get(work.id, 0.0), 2),
                'billable_hours': round(billable.get(work.id, 0.0), 2),
                'non_billable_hours': round(
                    non_billable.get(work.id, 0.0), 2),
                'invoiced_hours': round(invoiced.get(work.id, 0.0), 2),
                }
            logged_hours = (
                values['billable_hours'] + values['non_billable_hours'])
            values['remaining_hours'] = round(
                values['sold_hours'] - logged_hours, 2)
            values['hours_used'] = (
                round(logged_hours / values['sold_hours'], 4)
                if values['sold_hours'] else None)
            if money & set(names):
                currency = work.company.currency
                values['sold_amount'] = currency.round(
                    sold_amount.get(work.id, Decimal(0)))
                values['time_cost'] = currency.round(
                    time_cost.get(work.id, Decimal(0)))
                values['invoiced_sale_amount'] = currency.round(
                    invoiced_amount.get(work.id, Decimal(0)))
                values['remaining_amount'] = (
                    values['sold_amount'] - values['time_cost'])
            for name in names:
                result[name][work.id] = values[name]
        return result

    @classmethod
    def check_budget_alerts(cls, projects):
        """Plan one follow-up per threshold of sold hours the logged pass
        (through the queue when a worker runs it: see on_modification of
        timesheet.line)"""
        pool = Pool()
        Activity = pool.get('crm.activity')
        projects = cls.browse(sorted({p.id for p in projects}))
        # Two tasks of the same project: the second waits and finds the
        # thresholds the first recorded
        lock(projects)
        activities, to_save = [], []
        for project in projects:
            if not project.sold_hours or not project.party:
                continue
            alerts = set(project.budget_alerts or [])
            new_alerts = [t for t, _ in BUDGET_THRESHOLDS
                if t not in alerts
                and project.hours_used * 100 >= int(t)]
            if not new_alerts:
                continue
            for threshold in new_alerts:
                activities.append(
                    project._get_budget_alert_activity(threshold))
            project.budget_alerts = sorted(
                alerts | set(new_alerts), key=int)
            to_save.append(project)
        with without_check_access():
            Activity.save(activities)
            cls.save(to_save)

    def _get_budget_alert_activity(self, threshold):
        pool = Pool()
        Activity = pool.get('crm.activity')
        return Activity(
            company=self.company,
            activity_type='note',
            direction='internal',
            subject=gettext(
                'crm_projects.msg_budget_alert_subject',
                project=self.rec_name, threshold=threshold),
            description=gettext(
                'crm_projects.msg_budget_alert_description',
                project=self.rec_name,
                logged=f'{self.billable_hours + self.non_billable_hours:.2f}',
                sold=f'{self.sold_hours:.2f}'),
            party=self.party,
            resource=self,
            employee=self.project_manager,
            date=datetime.datetime.now().replace(microsecond=0),
            state='planned',
            )

    # Time and material: only billable lines are invoiced, at the price of
    # the sold project service.

    @property
    def invoice_unit_price(self):
        if self.sale_line:
            return self.sale_line.project_hour_price
        return super().invoice_unit_price

    @classmethod
    def _get_quantity_to_invoice_timesheet(cls, works):
        pool = Pool()
        TimesheetLine = pool.get('timesheet.line')
        cursor = Transaction().connection.cursor()
        line = TimesheetLine.__table__()

        upto2tworks = defaultdict(list)
        twork2work = {}
        for work in works:
            upto = work.invoice_timesheet_up_to
            for timesheet_work in work.timesheet_works:
                twork2work[timesheet_work.id] = work.id
                upto2tworks[upto].append(timesheet_work.id)

        hours = defaultdict(float)
        for upto, tworks in upto2tworks.items():
            for sub_ids in grouped_slice(tworks, backend.MAX_QUERY_PARAMS):
                where = (reduce_ids(line.work, sub_ids)
                    & (line.invoice_line == Null)
                    & (line.billable == Literal(True)))
                if upto:
                    where &= line.date <= upto
                cursor.execute(*line.select(
                        line.work, Sum(line.duration),
                        where=where, group_by=line.work))
                for twork_id, duration in cursor:
                    hours[twork2work[twork_id]] += _hours(duration)

        quantities = {}
        for work in works:
            if work.invoice_unit_price:
                quantity = hours[work.id]
                if work.unit_to_invoice:
                    quantity = work.unit_to_invoice.round(quantity)
                quantities[work.id] = quantity
        return quantities

    def get_origins_to_invoice(self):
        origins = super().get_origins_to_invoice()
        return [o for o in origins
            if not (getattr(o, '__name__', None) == 'timesheet.line'
                and not o.billable)]

    def _get_lines_to_invoice(self):
        lines = super()._get_lines_to_invoice()
        if self.sale_line:
            for line in lines:
                line['sale_line'] = self.sale_line
        return lines

    def _group_lines_to_invoice_key(self, line):
        return super()._group_lines_to_invoice_key(line) + (
            ('sale_line', line.get('sale_line')),)

    def _get_invoice_line(self, key, invoice, lines):
        invoice_line = super()._get_invoice_line(key, invoice, lines)
        sale_line = key.get('sale_line')
        # The order counts the time invoiced for its line, in a unit of the
        # same category as upstream sale requires
        if sale_line and (not sale_line.unit or not invoice_line.unit
                or sale_line.unit.category == invoice_line.unit.category):
            invoice_line.origin = sale_line
            invoice_line.taxes = sale_line.taxes
        return invoice_line

    def _get_invoice(self):
        if self.sale:
            invoice = self.sale._get_invoice()
            invoice.description = self.name
            return invoice
        return super()._get_invoice()

    @classmethod
    @ModelView.button
    def invoice(cls, works):
        # Invoicing is the project's business, not the right of the
        # user on invoices
        with without_check_access(), workflow_writes():
            # Invoicing a work invoices its tree: lock the trees before the
            # quantities to invoice are read, and change the locked rows so
            # that a concurrent click retries and finds nothing left
            trees = cls.search([
                    ('parent', 'child_of', [w.id for w in works]),
                    ])
            lock(trees)
            touch(trees)
            super().invoice(works)
