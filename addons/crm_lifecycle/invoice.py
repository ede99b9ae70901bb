# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.model import Index
from trytond.pool import Pool, PoolMeta

from .common import SafeValuesMixin


class Invoice(SafeValuesMixin, metaclass=PoolMeta):
    __name__ = 'account.invoice'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        # The dormancy job: the last invoice of a customer
        cls._sql_indexes.add(
            Index(t,
                (t.party, Index.Range()),
                (t.invoice_date, Index.Range(order='DESC'))))

    @classmethod
    def _post(cls, invoices):
        pool = Pool()
        Party = pool.get('party.party')
        super()._post(invoices)
        Party.update_lifecycle_from(
            [i for i in invoices if i.type == 'out'], reactivate=True)
