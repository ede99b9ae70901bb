# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.i18n import gettext
from trytond.model import Index, fields
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction

from trytond.modules.crm_lifecycle.common import client_call

from .exceptions import ActivityAccessError


class Activity(metaclass=PoolMeta):
    __name__ = 'crm.activity'

    service_message_id = fields.Char(
        "Message-ID", readonly=True,
        help="The Message-ID of the e-mail the activity was logged from.")
    service_system = fields.Boolean(
        "System", readonly=True,
        help="Logged by the service desk itself: a response, an escalation "
        "or an e-mail received.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.service_message_id, Index.Equality())))

    @classmethod
    def default_service_system(cls):
        return False

    @classmethod
    def _get_resources(cls):
        return super()._get_resources() + [
            'service.ticket', 'service.contract']

    @classmethod
    def _workflow_fields(cls):
        return super()._workflow_fields() | {
            'service_message_id', 'service_system'}

    @classmethod
    def _service_system_fields(cls):
        "Return the fields of system activities that clients may not change"
        return {
            'company', 'activity_type', 'direction', 'subject', 'party',
            'resource', 'date', 'state'}

    @classmethod
    def check_modification(cls, mode, activities, values=None, external=False):
        super().check_modification(
            mode, activities, values=values, external=external)
        if not external or Transaction().context.get('_crm_workflow'):
            return
        if mode == 'write':
            names = cls._service_system_fields() & set(values)
            if names:
                for activity in activities:
                    if activity.service_system:
                        raise ActivityAccessError(gettext(
                                'crm_service.msg_activity_system_write',
                                activity=activity.rec_name,
                                field=cls.__names__(
                                    sorted(names)[0])['field']))
        elif mode == 'delete':
            for activity in activities:
                if activity.service_system:
                    raise ActivityAccessError(gettext(
                            'crm_service.msg_activity_system_delete',
                            activity=activity.rec_name))

    @classmethod
    def copy(cls, activities, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('service_message_id', None)
        default.setdefault('service_system', False)
        return super().copy(activities, default=default)

    @classmethod
    def on_modification(cls, mode, activities, field_names=None):
        super().on_modification(mode, activities, field_names=field_names)
        if mode in {'create', 'write'}:
            cls._record_ticket_responses(activities)

    @classmethod
    def _record_ticket_responses(cls, activities):
        """A done outgoing activity that the service desk logged itself
        (Respond or an e-mail it sent) answers its ticket at its date.

        Activities of users are not responses: their date is typed."""
        pool = Pool()
        Ticket = pool.get('service.ticket')
        responses = {}
        for activity in activities:
            if (activity.service_system
                    and activity.state == 'done'
                    and activity.direction == 'out'
                    and activity.activity_type in {
                        'email', 'call', 'letter', 'visit', 'meeting'}
                    and isinstance(activity.resource, Ticket)
                    and activity.resource.id >= 0
                    and not activity.resource.first_response_date):
                ticket = activity.resource
                if (ticket not in responses
                        or activity.date < responses[ticket]):
                    responses[ticket] = activity.date
        for ticket, date in responses.items():
            Ticket.record_first_response([ticket], date)

    @classmethod
    def cancel(cls, activities):
        # an escalation stays until its lead has done it
        # (checked before the button's wrapper drops the access check)
        if client_call():
            for activity in activities:
                if activity.service_system:
                    raise ActivityAccessError(gettext(
                            'crm_service.msg_activity_system_cancel',
                            activity=activity.rec_name))
        super().cancel(activities)
