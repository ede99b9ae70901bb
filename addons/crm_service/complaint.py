# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.model import fields
from trytond.pool import PoolMeta

from trytond.modules.crm_lifecycle.common import SafeValuesMixin


class Complaint(SafeValuesMixin, metaclass=PoolMeta):
    __name__ = 'sale.complaint'

    service_tickets = fields.One2Many(
        'service.ticket', 'complaint', "Service Tickets", readonly=True)

    @classmethod
    def copy(cls, complaints, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('service_tickets', None)
        return super().copy(complaints, default=default)
