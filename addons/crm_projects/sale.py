# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime
from decimal import Decimal

from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction, without_check_access

from trytond.modules.crm_lifecycle.common import (
    SafeValuesMixin,
    lock,
    touch,
)


class Sale(SafeValuesMixin, metaclass=PoolMeta):
    __name__ = 'sale.sale'

    project_invoice_method = fields.Selection([
            ('milestone', "Milestones (Fixed Price)"),
            ('timesheet', "Time and Material"),
            ], "Project Invoicing", sort=False,
        states={
            'readonly': Eval('state') != 'draft',
            },
        help="How the project created for the project services of the "
        "order is invoiced.")
    projects = fields.One2Many(
        'project.work', 'sale', "Projects", readonly=True,
        filter=[
            ('type', '=', 'project'),
            ])

    @classmethod
    def default_project_invoice_method(cls):
        return 'milestone'

    @classmethod
    def copy(cls, sales, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('projects', None)
        return super().copy(sales, default=default)

    @classmethod
    def confirm(cls, sales):
        super().confirm(sales)
        cls.create_projects([s for s in sales if s.state == 'confirmed'])

    @classmethod
    def create_projects(cls, sales):
        "Create one project per order with project services, only once"
        pool = Pool()
        Work = pool.get('project.work')
        # Locked before looking for the project so that concurrent
        # confirmations create one; the unique sale of project.work backs it
        lock(sales)
        # The project is the order's consequence, not a right of the user
        # who confirms it.
        with without_check_access():
            done = {w.sale.id for w in Work.search([
                        ('sale', 'in', [s.id for s in sales]),
                        ])}
            projects = []
            for sale in sales:
                if sale.id in done:
                    continue
                project = sale._get_project()
                if project:
                    projects.append(project)
            Work.save(projects)
        touch(sales)
        return projects

    @property
    def project_lines(self):
        return [line for line in self.lines if line.is_project_service]

    @property
    def project_amount(self):
        "The untaxed amount of the lines that the project invoices"
        return sum(
            (line.amount for line in self.project_lines), Decimal(0))

    def get_project_taxes(self):
        "Return the taxes of the project lines as the order computes them"
        # The order's own computation (tax rounding, tax rules) on an
        # instance that holds only the project lines; it is never saved
        sale = self.__class__(self.id)
        sale.lines = self.project_lines
        return sale._get_taxes()

    def is_done(self):
        # Upstream waits only for the invoices that exist; the project
        # invoices its lines later, by milestones or time
        return super().is_done() and all(
            line.is_project_invoiced for line in self.project_lines)

    def _get_project(self):
        "Return the project for the order or None"
        pool = Pool()
        Work = pool.get('project.work')
        lines = self.project_lines
        if not lines:
            return
        project = Work(
            name=self.description or self.rec_name,
            type='project',
            company=self.company,
            party=self.party,
            sale=self,
            origin=self,
            project_invoice_method=(
                'timesheet' if self.project_invoice_method == 'timesheet'
                else 'manual'),
            project_manager=(
                self.confirmed_by
                or Transaction().context.get('employee')),
            timesheet_available=False,
            )
        project.status = Work.default_status()
        project.children = [
            line._get_project_task(project) for line in lines]
        return project


class SaleLine(metaclass=PoolMeta):
    __name__ = 'sale.line'

    project_tasks = fields.One2Many(
        'project.work', 'sale_line', "Project Tasks", readonly=True)

    @classmethod
    def copy(cls, lines, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('project_tasks', None)
        return super().copy(lines, default=default)

    @property
    def is_project_service(self):
        return bool(self.type == 'line' and self.product
            and self.product.type == 'service'
            and self.product.template.project_service)

    @property
    def hour_uom(self):
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        Uom = pool.get('product.uom')
        return Uom(ModelData.get_id('product', 'uom_hour'))

    @property
    def _unit_is_time(self):
        return bool(self.unit
            and self.unit.category == self.hour_uom.category)

    @property
    def project_hours(self):
        "The sold quantity in hours"
        pool = Pool()
        Uom = pool.get('product.uom')
        if self._unit_is_time:
            return Uom.compute_qty(
                self.unit, self.quantity, self.hour_uom, round=False)
        return self.quantity or 0

    @property
    def project_hour_price(self):
        "The unit price per hour"
        pool = Pool()
        Uom = pool.get('product.uom')
        if self.unit_price is None:
            return
        if self._unit_is_time:
            return Uom.compute_price(
                self.unit, self.unit_price, self.hour_uom)
        return self.unit_price

    def _get_project_task(self, project):
        pool = Pool()
        Work = pool.get('project.work')
        task = Work(
            name=self.description or self.product.rec_name,
            type='task',
            company=self.sale.company,
            party=self.sale.party,
            sale_line=self,
            product=self.product,
            list_price=self.project_hour_price,
            effort_duration=datetime.timedelta(hours=self.project_hours),
            timesheet_available=True,
            )
        task.status = Work.default_status()
        return task

    @property
    def project_invoiced_amount(self):
        "The amount of the line on invoices that are not cancelled"
        return sum((line.amount for line in self.invoice_lines
                if line.type == 'line' and line.invoice
                and line.invoice.state != 'cancelled'),
            Decimal(0))

    @property
    def is_project_invoiced(self):
        "Whether the project has invoiced all of the line"
        if self.sale.project_invoice_method == 'timesheet':
            # Time is invoiced as it is logged, until the work is done
            return all(
                t.is_closed and not t.quantity_to_invoice
                for t in self.project_tasks)
        return self.project_invoiced_amount >= self.amount

    def get_invoice_line(self):
        # Project services are invoiced by their project, through
        # milestones or time and material, with invoice lines whose origin
        # is the sale line.
        if self.is_project_service:
            return []
        return super().get_invoice_line()
