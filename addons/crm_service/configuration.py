# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.model import ModelSingleton, ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Id

from trytond.modules.crm_lifecycle.common import SafeValuesMixin


class Configuration(SafeValuesMixin, ModelSingleton, ModelSQL, ModelView):
    __name__ = 'service.configuration'

    ticket_sequence = fields.Many2One(
        'ir.sequence', "Ticket Sequence", required=True,
        domain=[
            ('sequence_type', '=',
                Id('crm_service', 'sequence_type_ticket')),
            ])
    default_sla = fields.Many2One(
        'service.sla', "Default SLA",
        help="The SLA of customers without their own.")
    service_product = fields.Many2One(
        'product.product', "Service Product",
        domain=[
            ('type', '=', 'service'),
            ],
        help="The product at whose price service time is invoiced.")

    @classmethod
    def default_ticket_sequence(cls):
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        try:
            return ModelData.get_id('crm_service', 'sequence_ticket')
        except KeyError:
            return None
