# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import functools
from collections import defaultdict

from trytond.pool import Pool, PoolMeta
from trytond.transaction import without_check_access

from trytond.modules.crm_lifecycle.common import SafeValuesMixin


class Invoice(SafeValuesMixin, metaclass=PoolMeta):
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
        Sale = pool.get('sale.sale')
        super().cancel(invoices)
        with without_check_access():
            milestones = cls._project_milestones(
                [i for i in invoices if i.state == 'cancelled'])
            # The milestone is invoiced again: for its order the cancelled
            # invoice is recreated, not an exception to handle
            recreated = defaultdict(list)
            for milestone in milestones:
                if milestone.state == 'invoiced' and milestone.project.sale:
                    recreated[milestone.project.sale].append(
                        milestone.invoice.id)
            to_write = []
            for sale, invoice_ids in recreated.items():
                to_write.extend(([sale], {
                            'invoices_recreated': [('add', invoice_ids)],
                            }))
            if to_write:
                Sale.write(*to_write)
            Milestone.set_invoice_cancelled(milestones)


class InvoiceLine(metaclass=PoolMeta):
    __name__ = 'account.invoice.line'

    @classmethod
    def _get_origin(cls):
        return super()._get_origin() + ['project.milestone']

    @classmethod
    def on_delete(cls, lines):
        pool = Pool()
        Milestone = pool.get('project.milestone')
        callbacks = super().on_delete(lines)
        line_ids = [line.id for line in lines]
        with without_check_access():
            # The milestone of a deleted invoice is already unlinked from
            # the invoice, not yet from its first line
            milestones = Milestone.search([
                    ('state', '=', 'invoiced'),
                    ['OR',
                        ('invoice_line', 'in', line_ids),
                        ('invoice.lines', 'in', line_ids),
                        ],
                    ])
            milestones = [m for m in milestones
                if set(m.billed_lines) & set(lines)]
        if milestones:
            # A milestone is billed wholly or not at all: its other lines
            # leave the invoice with it
            others = [line.id for m in milestones for line in m.billed_lines
                if line not in lines]
            callbacks.append(functools.partial(
                    cls._unbill_milestones,
                    [m.id for m in milestones], others))
        return callbacks

    @classmethod
    def _unbill_milestones(cls, milestone_ids, line_ids):
        "Accept again the milestones whose invoice lines are deleted"
        pool = Pool()
        Milestone = pool.get('project.milestone')
        with without_check_access():
            Milestone.set_invoice_cancelled(Milestone.browse(milestone_ids))
            cls.delete(cls.search([('id', 'in', line_ids)]))
