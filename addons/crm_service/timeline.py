# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from sql import Literal, Null
from sql.conditionals import Coalesce
from sql.operators import Concat
from trytond.pool import Pool, PoolMeta

from trytond.modules.crm_lifecycle.timeline import TimelineSourceMixin


class Timeline(metaclass=PoolMeta):
    __name__ = 'crm.timeline'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.kind.selection += [('ticket', "Service Ticket")]

    @classmethod
    def _get_documents(cls):
        return super()._get_documents() + ['service.ticket']

    @classmethod
    def _state_models(cls):
        return {
            **super()._state_models(),
            'ticket': ('service.ticket', 'state'),
            }

    @classmethod
    def _module_sources(cls, module):
        sources = super()._module_sources(module)
        if module == 'crm_service':
            # with the e-mails sent from tickets
            sources = sources + ['service.ticket', 'ir.email']
        return sources

    @classmethod
    def _email_resources(cls):
        return {
            **super()._email_resources(),
            'service.ticket': ('party', 'company'),
            }

    @classmethod
    def _timeline_sources(cls):
        pool = Pool()
        Ticket = pool.get('service.ticket')
        ticket = Ticket.__table__()
        return super()._timeline_sources() + [
            ('service.ticket', ticket, cls._columns(
                    ticket, 'service.ticket',
                    party=ticket.party, date=ticket.reported_date,
                    kind=Literal('ticket'),
                    summary=Concat(Concat(
                            Coalesce(ticket.number, ''), ' '),
                        Coalesce(ticket.title, '')),
                    state=ticket.state, employee=ticket.assignee,
                    company=ticket.company),
                ticket, ticket.party != Null),
            ]


class Ticket(TimelineSourceMixin, metaclass=PoolMeta):
    __name__ = 'service.ticket'
    _crm_timeline_fields = {
        'party', 'reported_date', 'number', 'title', 'state', 'assignee',
        'company'}
