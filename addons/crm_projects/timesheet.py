# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime

from trytond.i18n import gettext
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval

from trytond.modules.crm_lifecycle.common import (
    SafeValuesMixin,
    WorkflowFieldsMixin,
    readonly_when,
)
from trytond.modules.crm_lifecycle.ir import enqueue

from .exceptions import (
    TimesheetGroupError,
    TimesheetLockedError,
    TimesheetValidationError,
)


class Line(WorkflowFieldsMixin, SafeValuesMixin, metaclass=PoolMeta):
    __name__ = 'timesheet.line'

    billable = fields.Boolean(
        "Billable",
        help="Check to invoice the time to the customer "
        "(time and material).")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        readonly_when(cls, cls._invoiced_fields(),
            Bool(Eval('invoice_line')), ['invoice_line'])

    @classmethod
    def default_billable(cls):
        return True

    @classmethod
    def _invoiced_fields(cls):
        "Return the fields that stay as invoiced by project_invoice"
        # project_invoice locks duration and work; the date decided which
        # invoice took the line (invoice_timesheet_up_to) and billable
        # whether it was invoiced at all
        return {'duration', 'work', 'date', 'billable'}

    @classmethod
    def _workflow_fields(cls):
        # Set by the invoicing of project_invoice only
        return super()._workflow_fields() | {'invoice_line'}

    @classmethod
    def preprocess_values(cls, mode, values):
        pool = Pool()
        TimesheetWork = pool.get('timesheet.work')
        values = super().preprocess_values(mode, values)
        # Checked before the domain of the duration and before writing
        duration = values.get('duration')
        if duration is not None and duration < datetime.timedelta():
            raise TimesheetValidationError(gettext(
                    'crm_projects.msg_timesheet_duration_negative',
                    duration=duration))
        if mode == 'create' and values.get('work') is not None:
            cls._check_work_open([TimesheetWork(values['work'])])
        return values

    @classmethod
    def _check_work_open(cls, timesheet_works):
        "Refuse time on done projects and tasks"
        for timesheet_work in timesheet_works:
            work = timesheet_work.origin
            if getattr(work, '__name__', None) != 'project.work':
                continue
            for closed in [work, work.root_project]:
                if closed.is_closed:
                    raise TimesheetValidationError(gettext(
                            'crm_projects.msg_timesheet_work_closed',
                            work=work.rec_name,
                            closed=closed.rec_name))

    @classmethod
    def _check_order_project_group(cls, lines):
        """Time booked to an order belongs to the project department

        Timesheet lines stay open to every employee as in standard Tryton;
        only lines on projects created from an order need CRM Projects."""
        pool = Pool()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        groups = set(User.get_groups())
        allowed = {
            ModelData.get_id('crm_lifecycle', 'group_crm_projects'),
            ModelData.get_id('timesheet', 'group_timesheet_admin'),
            }
        if groups & allowed:
            return
        for line in lines:
            work = line.work.origin if line.work else None
            if (getattr(work, '__name__', None) == 'project.work'
                    and work.root_project.sale):
                raise TimesheetGroupError(gettext(
                        'crm_projects.msg_timesheet_order_project_group',
                        work=work.rec_name))

    @classmethod
    def check_modification(cls, mode, lines, values=None, external=False):
        pool = Pool()
        TimesheetWork = pool.get('timesheet.work')
        if external:
            cls._check_order_project_group(lines)
        if mode == 'write':
            if values.keys() & cls._invoiced_fields():
                for line in lines:
                    if line.invoice_line:
                        raise TimesheetLockedError(gettext(
                                'crm_projects.msg_timesheet_line_invoiced',
                                line=line.rec_name))
            if values.keys() & {'work', 'duration', 'date', 'billable'}:
                if values.get('work') is not None:
                    cls._check_work_open([TimesheetWork(values['work'])])
                else:
                    cls._check_work_open({line.work for line in lines})
        elif mode == 'delete':
            for line in lines:
                if line.invoice_line:
                    raise TimesheetLockedError(gettext(
                            'crm_projects.msg_timesheet_line_invoiced',
                            line=line.rec_name))
        super().check_modification(
            mode, lines, values=values, external=external)

    @classmethod
    def on_modification(cls, mode, lines, field_names=None):
        pool = Pool()
        Work = pool.get('project.work')
        super().on_modification(mode, lines, field_names=field_names)
        if mode == 'create' or (
                mode == 'write' and field_names & {'duration', 'work'}):
            projects = set()
            for line in lines:
                work = line.work.origin
                if getattr(work, '__name__', None) == 'project.work':
                    projects.add(work.root_project)
            # Alerts are follow-ups, not checks: the worker plans them
            # after the commit when it runs, the person logging time does
            # not wait for them
            enqueue(Work, 'check_budget_alerts', projects)
