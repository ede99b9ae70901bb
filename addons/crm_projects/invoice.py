# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.pool import Pool, PoolMeta
from trytond.transaction import without_check_access


class Invoice(metaclass=PoolMeta):
    __name__ = 'account.invoice'

    @classmethod
    def _project_milestones(cls, invoices):
        pool = Pool()
        Milestone = pool.get('project.milestone')
        return Milestone.search([
                ('invoice', 'in', [i.id for i in invoices]),
                ])

    @classmethod
    def paid(cls, invoices):
        pool = Pool()
        Milestone = pool.get('project.milestone')
        super().paid(invoices)
        # Paying is the accountant's business, the milestone follows
        with without_check_access():
            Milestone.set_paid(cls._project_milestones(invoices))

    @classmethod
    def cancel(cls, invoices):
        pool = Pool()
        Milestone = pool.get('project.milestone')
        super().cancel(invoices)
        with without_check_access():
            Milestone.set_invoice_cancelled(cls._project_milestones(
                    [i for i in invoices if i.state == 'cancelled']))


class InvoiceLine(metaclass=PoolMeta):
    __name__ = 'account.invoice.line'

    @classmethod
    def _get_origin(cls):
        return super()._get_origin() + ['project.milestone']
