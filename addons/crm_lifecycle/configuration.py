# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.model import ModelSingleton, ModelSQL, ModelView, fields

from .common import SafeValuesMixin


class Configuration(SafeValuesMixin, ModelSingleton, ModelSQL, ModelView):
    __string__ = "CRM Configuration"
    __name__ = 'crm.configuration'

    dormant_days = fields.Integer(
        "Dormant after (days)", required=True,
        domain=[('dormant_days', '>', 0)],
        help="A customer with no order and no activity for this many days "
        "becomes dormant.")
    quotation_followup_days = fields.Integer(
        "Quotation follow-up (days before expiry)", required=True,
        domain=[('quotation_followup_days', '>=', 0)],
        help="How many days before a quotation expires the salesperson "
        "gets a follow-up.")
    lost_reason_enforced = fields.Boolean(
        "Enforce Lost Reason",
        help="The client always asks for a lost reason before an "
        "opportunity is marked lost. Check to refuse it also for "
        "integrations that call the API without a reason, which standard "
        "Tryton allows.")

    @classmethod
    def default_dormant_days(cls):
        return 365

    @classmethod
    def default_quotation_followup_days(cls):
        return 3
