# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import functools

from trytond.model import fields
from trytond.pool import Pool
from trytond.transaction import Transaction


def model_selection(models):
    "Return the selection of a Reference field over the models named"
    pool = Pool()
    IrModel = pool.get('ir.model')
    return [(None, '')] + [(m, IrModel.get_name(m)) for m in models]


def updates_lifecycle(reactivate=False):
    """Decorate a classmethod that changes documents of parties so that the
    parties' lifecycle stages follow, in the same transaction"""
    def decorator(func):
        @functools.wraps(func)
        def wrapper(cls, records, *args, **kwargs):
            result = func(cls, records, *args, **kwargs)
            Party = Pool().get('party.party')
            Party.update_lifecycle_from(records, reactivate=reactivate)
            return result
        return wrapper
    return decorator


class ChannelEventMixin:
    "Fill the channel and the event of a document from its party"
    __slots__ = ()

    @fields.depends('party', 'crm_channel', 'marketing_campaign')
    def on_change_party(self):
        super().on_change_party()
        if self.party:
            if not self.crm_channel:
                self.crm_channel = self.party.crm_channel
            if not self.marketing_campaign:
                self.marketing_campaign = self.party.crm_event


class CompanyCurrencyMixin:
    "The currency of the context's company, for report amounts"
    __slots__ = ()

    def get_currency(self, name):
        pool = Pool()
        Company = pool.get('company.company')
        company = Transaction().context.get('company')
        if company is not None and company >= 0:
            return Company(company).currency.id
