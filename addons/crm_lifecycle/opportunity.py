# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin,
    ModelSQL,
    ModelView,
    fields,
    sequence_ordered,
)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval

from .common import (
    ChannelEventMixin,
    SafeValuesMixin,
    WorkflowFieldsMixin,
    lock,
    model_selection,
    updates_lifecycle,
)
from .exceptions import LostReasonError
from .party import channel_field


class LostReason(
        SafeValuesMixin, DeactivableMixin, sequence_ordered(), ModelSQL,
        ModelView):
    __string__ = "Lost Reason"
    __name__ = 'crm.lost_reason'

    name = fields.Char("Name", required=True, translate=True)


class Opportunity(
        WorkflowFieldsMixin, SafeValuesMixin, ChannelEventMixin,
        metaclass=PoolMeta):
    __name__ = 'sale.opportunity'

    crm_channel = channel_field(
        states={
            'readonly': ~Eval('state').in_(['lead', 'opportunity']),
            })
    crm_lost_reason = fields.Many2One(
        'crm.lost_reason', "Lost Reason", ondelete='RESTRICT',
        states={
            'invisible': ~Eval('state').in_(['lead', 'opportunity', 'lost']),
            'readonly': Eval('state') == 'lost',
            },
        help="Why the opportunity was lost; asked for to mark it lost.")
    crm_origin = fields.Reference(
        "Origin", selection='get_crm_origins', readonly=True,
        help="Where the opportunity came from, e.g. a service ticket.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons['lost']['pre_validate'] = [
            ('crm_lost_reason', '!=', None),
            ]

    @classmethod
    def _workflow_fields(cls):
        # The state stays upstream's: sale_opportunity moves it by its
        # buttons and lets clients write it.
        return (super()._workflow_fields() - {'state'}) | {'crm_origin'}

    @classmethod
    def _get_crm_origins(cls):
        "Return the models an opportunity may come from"
        return ['crm.activity']

    @classmethod
    def get_crm_origins(cls):
        return model_selection(cls._get_crm_origins())

    def _get_sale_opportunity(self):
        sale = super()._get_sale_opportunity()
        sale.crm_channel = self.crm_channel
        return sale

    @classmethod
    def copy(cls, opportunities, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('crm_lost_reason', None)
        default.setdefault('crm_origin', None)
        return super().copy(opportunities, default=default)

    @classmethod
    def on_modification(cls, mode, opportunities, field_names=None):
        pool = Pool()
        Party = pool.get('party.party')
        super().on_modification(mode, opportunities, field_names=field_names)
        if mode == 'create' or (field_names and 'party' in field_names):
            Party.update_lifecycle_from(opportunities, reactivate=True)

    @classmethod
    @updates_lifecycle(reactivate=True)
    def lead(cls, opportunities):
        super().lead(opportunities)

    @classmethod
    @updates_lifecycle(reactivate=True)
    def opportunity(cls, opportunities):
        super().opportunity(opportunities)

    @classmethod
    def convert(cls, opportunities):
        # Exactly once: the transition checks the state after the lock;
        # converting changes the state, so concurrent clicks wait and
        # then find the opportunity converted.
        lock(opportunities)
        return super().convert(opportunities)

    @classmethod
    @updates_lifecycle()
    def lost(cls, opportunities):
        pool = Pool()
        Configuration = pool.get('crm.configuration')
        # The client asks for the reason (pre_validate of the button);
        # the server refuses only when the company chose so, as standard
        # Tryton lets integrations mark opportunities lost.
        # Opportunities lost because all their sales were cancelled are
        # lost by the sales, not by a salesperson's decision.
        if Configuration(1).lost_reason_enforced:
            for opportunity in opportunities:
                if not opportunity.crm_lost_reason and not opportunity.sales:
                    raise LostReasonError(gettext(
                            'crm_lifecycle.msg_opportunity_lost_reason',
                            opportunity=opportunity.rec_name))
        super().lost(opportunities)

    @classmethod
    @updates_lifecycle()
    def cancel(cls, opportunities):
        super().cancel(opportunities)
