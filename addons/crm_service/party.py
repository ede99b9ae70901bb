# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt

from sql.aggregate import Count
from sql.conditionals import Case
from trytond import backend
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction, without_check_access

from trytond.modules.crm_lifecycle.common import SafeValuesMixin


class Party(SafeValuesMixin, metaclass=PoolMeta):
    __name__ = 'party.party'

    service_sla = fields.Many2One(
        'service.sla', "Service SLA", ondelete='RESTRICT',
        domain=[
            ('company', '=', Eval('context', {}).get('company', -1)),
            ],
        help="The SLA of the customer's tickets; "
        "by default the one of the service configuration.")
    service_tickets = fields.One2Many(
        'service.ticket', 'party', "Service Tickets", readonly=True)
    crm_open_tickets = fields.Function(
        fields.Integer("Open Tickets"), 'get_crm_figures')
    crm_sla_breaches = fields.Function(
        fields.Integer("SLA Breaches (12 Months)",
            help="Tickets of the last 12 months whose SLA was breached."),
        'get_crm_figures')
    crm_hour_bank_usage = fields.Function(
        fields.Float(
            "Hour Bank Usage", digits=(16, 4),
            help="The share of the prepaid hours of the customer's running "
            "hour bank that is consumed."),
        'get_crm_hour_bank_usage')

    @classmethod
    def copy(cls, parties, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('service_tickets', None)
        return super().copy(parties, default=default)

    @classmethod
    def _crm_figure_queries(cls, party_ids, names):
        pool = Pool()
        Ticket = pool.get('service.ticket')
        Date = pool.get('ir.date')
        yield from super()._crm_figure_queries(party_ids, names)
        columns = [n for n in ['crm_open_tickets', 'crm_sla_breaches']
            if n in names]
        if not columns:
            return
        ticket = Ticket.__table__()
        company = Transaction().context.get('company')
        since = dt.datetime.combine(
            Date.today() - dt.timedelta(days=365), dt.time())
        where = reduce_ids(ticket.party, party_ids)
        if company:
            where &= ticket.company == company
        # count the ids that match: a typed column keeps PostgreSQL happy
        values = {
            'crm_open_tickets': Count(Case(
                    (ticket.state.in_(Ticket._open_states()), ticket.id))),
            'crm_sla_breaches': Count(Case(
                    ((ticket.sla_state == 'breached')
                        & (ticket.reported_date >= since), ticket.id))),
            }
        yield ticket.select(
            ticket.party, *(values[c] for c in columns),
            where=where, group_by=ticket.party), columns

    @classmethod
    def get_crm_hour_bank_usage(cls, parties, name):
        pool = Pool()
        Contract = pool.get('service.contract')
        Date = pool.get('ir.date')
        company = Transaction().context.get('company')
        today = Date.today()
        usages = dict.fromkeys(p.id for p in parties)
        domain = [
            ('state', '=', 'running'),
            ('start_date', '<=', today),
            ('end_date', '>=', today),
            ]
        if company:
            domain.append(('company', '=', company))
        # a figure of the customer for every department
        with without_check_access():
            for sub_ids in grouped_slice(
                    list(usages), backend.MAX_QUERY_PARAMS):
                for contract in Contract.search(
                        domain + [('party', 'in', list(sub_ids))]):
                    usages[contract.party.id] = contract.usage
        return usages

    @classmethod
    def _crm_figure_defaults(cls):
        return {
            **super()._crm_figure_defaults(),
            'crm_open_tickets': 0,
            'crm_sla_breaches': 0,
            }


class Replace(metaclass=PoolMeta):
    __name__ = 'party.replace'

    @classmethod
    def fields_to_replace(cls):
        return super().fields_to_replace() + [
            ('service.ticket', 'party'),
            ('service.contract', 'party'),
            ]
