# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.model import Index, fields
from trytond.pool import Pool, PoolMeta


class Activity(metaclass=PoolMeta):
    __name__ = 'crm.activity'

    service_message_id = fields.Char(
        "Message-ID", readonly=True,
        help="The Message-ID of the e-mail the activity was logged from.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.service_message_id, Index.Equality())))

    @classmethod
    def _get_resources(cls):
        return super()._get_resources() + ['service.ticket']

    @classmethod
    def copy(cls, activities, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('service_message_id', None)
        return super().copy(activities, default=default)

    @classmethod
    def on_modification(cls, mode, activities, field_names=None):
        super().on_modification(mode, activities, field_names=field_names)
        if mode in {'create', 'write'}:
            cls._record_ticket_responses(activities)

    @classmethod
    def _record_ticket_responses(cls, activities):
        "A done outgoing e-mail, call or letter answers its ticket"
        pool = Pool()
        Ticket = pool.get('service.ticket')
        responses = {}
        for activity in activities:
            if (activity.state == 'done'
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
