# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt

from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin,
    ModelSQL,
    ModelView,
    Unique,
    fields,
    sequence_ordered,
)
from trytond.pool import Pool
from trytond.transaction import Transaction

from trytond.modules.crm_lifecycle.common import SafeValuesMixin

from . import sla_clock
from .exceptions import SLAValidationError

PRIORITIES = [
    ('low', "Low"),
    ('normal', "Normal"),
    ('high', "High"),
    ('urgent', "Urgent"),
    ]
WEEKDAYS = [
    ('0', "Monday"),
    ('1', "Tuesday"),
    ('2', "Wednesday"),
    ('3', "Thursday"),
    ('4', "Friday"),
    ('5', "Saturday"),
    ('6', "Sunday"),
    ]


def _timezones():
    pool = Pool()
    Company = pool.get('company.company')
    return Company.timezone.selection


class SLA(SafeValuesMixin, DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'service.sla'
    __string__ = "Service Level Agreement"

    name = fields.Char("Name", required=True, translate=True)
    company = fields.Many2One('company.company', "Company", required=True)
    timezone = fields.Selection(
        'get_timezones', "Time Zone", required=True, translate=False,
        help="The time zone of the business hours and holidays.")
    at_risk_share = fields.Float(
        "At-Risk Share", required=True, digits=(1, 2),
        help="The share of a target after which a ticket is at risk.")
    targets = fields.One2Many('service.sla.target', 'sla', "Targets")
    hours = fields.One2Many('service.sla.hours', 'sla', "Business Hours")
    holidays = fields.One2Many('service.sla.holiday', 'sla', "Holidays")

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_timezone(cls):
        pool = Pool()
        Company = pool.get('company.company')
        company_id = Transaction().context.get('company')
        if company_id is not None and company_id >= 0:
            company = Company(company_id)
            if company.timezone:
                return company.timezone
        return 'UTC'

    @classmethod
    def get_timezones(cls):
        return _timezones()

    @classmethod
    def default_at_risk_share(cls):
        return 0.75

    @classmethod
    def validate_fields(cls, slas, field_names):
        super().validate_fields(slas, field_names)
        if field_names and 'at_risk_share' not in field_names:
            return
        for sla in slas:
            if not (0 < sla.at_risk_share <= 1):
                raise SLAValidationError(gettext(
                        'crm_service.msg_sla_risk_share', sla=sla.rec_name))

    @property
    def clock(self):
        "The business-hours clock of the SLA"
        return sla_clock.BusinessClock(
            [(int(h.weekday), h.start_time, h.end_time) for h in self.hours],
            [h.date for h in self.holidays],
            self.timezone)

    def get_target(self, priority):
        "Return the (response, resolution) durations of the priority"
        for target in self.targets:
            if target.priority == priority:
                return (
                    dt.timedelta(hours=target.response_hours),
                    dt.timedelta(hours=target.resolution_hours))
        return None, None


class SLATarget(SafeValuesMixin, ModelSQL, ModelView):
    __name__ = 'service.sla.target'
    __string__ = "SLA Target"

    sla = fields.Many2One(
        'service.sla', "SLA", required=True, ondelete='CASCADE')
    priority = fields.Selection(
        PRIORITIES, "Priority", required=True, sort=False)
    priority_string = priority.translated('priority')
    response_hours = fields.Float(
        "Response Hours", required=True,
        help="Business hours until the first response.")
    resolution_hours = fields.Float(
        "Resolution Hours", required=True,
        help="Business hours until the ticket is resolved.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('sla')
        t = cls.__table__()
        cls._sql_constraints += [
            ('sla_priority_unique', Unique(t, t.sla, t.priority),
                'crm_service.msg_sla_target_unique'),
            ]

    def get_rec_name(self, name):
        return self.priority_string

    @classmethod
    def validate_fields(cls, targets, field_names):
        super().validate_fields(targets, field_names)
        if field_names and not (
                field_names & {'response_hours', 'resolution_hours'}):
            return
        for target in targets:
            if target.response_hours <= 0 or target.resolution_hours <= 0:
                raise SLAValidationError(gettext(
                        'crm_service.msg_sla_target_positive',
                        target=target.rec_name))


class SLAHours(SafeValuesMixin, sequence_ordered(), ModelSQL, ModelView):
    __name__ = 'service.sla.hours'
    __string__ = "SLA Business Hours"

    sla = fields.Many2One(
        'service.sla', "SLA", required=True, ondelete='CASCADE')
    weekday = fields.Selection(WEEKDAYS, "Weekday", required=True, sort=False)
    weekday_string = weekday.translated('weekday')
    start_time = fields.Time("Start", required=True)
    end_time = fields.Time(
        "End", required=True, help="00:00 means midnight.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('sla')
        cls._order.insert(0, ('weekday', 'ASC'))
        cls._order.insert(1, ('start_time', 'ASC'))

    def get_rec_name(self, name):
        start = self.start_time.strftime('%H:%M') if self.start_time else ''
        end = self.end_time.strftime('%H:%M') if self.end_time else ''
        return f'{self.weekday_string} {start}-{end}'

    @classmethod
    def validate_fields(cls, hours, field_names):
        super().validate_fields(hours, field_names)
        if field_names and not (field_names & {'start_time', 'end_time'}):
            return
        for line in hours:
            # 00:00 as end is the midnight at the end of the day
            if (line.end_time <= line.start_time
                    and line.end_time != dt.time()):
                raise SLAValidationError(gettext(
                        'crm_service.msg_sla_hours_end_before_start',
                        hours=line.rec_name))


class SLAHoliday(SafeValuesMixin, ModelSQL, ModelView):
    __name__ = 'service.sla.holiday'
    __string__ = "SLA Holiday"

    sla = fields.Many2One(
        'service.sla', "SLA", required=True, ondelete='CASCADE')
    date = fields.Date("Date", required=True)
    name = fields.Char("Name", translate=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('sla')
        cls._order.insert(0, ('date', 'ASC'))
