# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.pool import PoolMeta

from trytond.modules.crm_lifecycle.common import SafeValuesMixin


class Opportunity(SafeValuesMixin, metaclass=PoolMeta):
    __name__ = 'sale.opportunity'

    @classmethod
    def _get_crm_origins(cls):
        return super()._get_crm_origins() + ['service.ticket']
