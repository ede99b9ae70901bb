# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.i18n import gettext
from trytond.model import Index, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval

from trytond.modules.crm_lifecycle.common import (
    SafeValuesMixin,
    WorkflowFieldsMixin,
    readonly_when,
)

from .exceptions import TimesheetLineError


class Work(metaclass=PoolMeta):
    __name__ = 'timesheet.work'

    @classmethod
    def _get_origin(cls):
        return super()._get_origin() + ['service.ticket']


class Line(WorkflowFieldsMixin, SafeValuesMixin, metaclass=PoolMeta):
    __name__ = 'timesheet.line'

    service_invoice_line = fields.Many2One(
        'account.invoice.line', "Service Invoice Line", readonly=True,
        ondelete='SET NULL',
        help="The invoice line of the billable service time.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.service_invoice_line, Index.Range())))
        readonly_when(cls, cls._service_invoiced_fields(),
            Bool(Eval('service_invoice_line')), ['service_invoice_line'])

    @classmethod
    def _service_invoiced_fields(cls):
        "Return the fields that stay as invoiced"
        # project_invoice locks duration and work; the date is printed on
        # the invoice line and dated its price
        return {'duration', 'work', 'date'}

    @classmethod
    def _workflow_fields(cls):
        # set and cleared by the invoicing of service time only
        return super()._workflow_fields() | {'service_invoice_line'}

    @classmethod
    def copy(cls, lines, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('service_invoice_line', None)
        return super().copy(lines, default=default)

    @classmethod
    def check_modification(cls, mode, lines, values=None, external=False):
        super().check_modification(
            mode, lines, values=values, external=external)
        # Linking to and unlinking from the invoice line is the invoicing
        if mode == 'write' and set(values) <= {'service_invoice_line'}:
            return
        if (mode == 'delete'
                or (mode == 'write'
                    and set(values) & cls._service_invoiced_fields())):
            for line in lines:
                if line.service_invoice_line:
                    raise TimesheetLineError(gettext(
                            'crm_service.msg_timesheet_line_invoiced',
                            line=line.rec_name))
        cls.check_ticket_open(lines)

    @classmethod
    def on_modification(cls, mode, lines, field_names=None):
        pool = Pool()
        Contract = pool.get('service.contract')
        super().on_modification(mode, lines, field_names=field_names)
        if mode == 'write' and field_names and 'work' in field_names:
            cls.check_ticket_open(lines)
        if mode == 'create' or (mode == 'write'
                and field_names & {'duration', 'work', 'date'}):
            Contract.check_upsell_of(
                cls._hour_bank_parties(lines), {line.date for line in lines})

    @classmethod
    def _hour_bank_parties(cls, lines):
        """Return the (company id, party id) pairs whose prepaid hours the
        lines consume"""
        pool = Pool()
        Ticket = pool.get('service.ticket')
        parties = set()
        for line in lines:
            origin = line.work.origin if line.work else None
            if isinstance(origin, Ticket) and origin.party:
                parties.add((origin.company.id, origin.party.id))
        return parties

    @classmethod
    def check_ticket_open(cls, lines):
        "Refuse time on closed or cancelled tickets"
        pool = Pool()
        Ticket = pool.get('service.ticket')
        for line in lines:
            origin = line.work.origin if line.work else None
            if (isinstance(origin, Ticket)
                    and origin.state in {'closed', 'cancelled'}):
                raise TimesheetLineError(gettext(
                        'crm_service.msg_timesheet_closed_ticket',
                        ticket=origin.rec_name))


class Line_Project(metaclass=PoolMeta):
    __name__ = 'timesheet.line'

    @classmethod
    def _hour_bank_parties(cls, lines):
        parties = super()._hour_bank_parties(lines)
        for line in lines:
            work = line.work.origin if line.work else None
            if getattr(work, '__name__', None) != 'project.work':
                continue
            # as the customer figures: the nearest work with a party
            while work and not work.party:
                work = work.parent
            if work:
                parties.add((line.company.id, work.party.id))
        return parties
