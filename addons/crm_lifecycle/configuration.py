# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from sql.functions import CurrentTimestamp
from trytond.model import ModelSingleton, ModelSQL, ModelView, fields
from trytond.transaction import Transaction

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
    def __register__(cls, module):
        cursor = Transaction().connection.cursor()
        table = cls.__table__()
        super().__register__(module)
        # The checks of the values (domain) search the stored record: store
        # the defaults so that an unedited configuration is valid (e.g. for
        # trytond-admin --validate). The fields of the modules registered
        # later take their defaults as columns added to an existing row.
        cursor.execute(*table.select(table.id, limit=1))
        if not cursor.fetchone():
            cursor.execute(*table.insert(
                    [table.create_uid, table.create_date,
                        table.dormant_days, table.quotation_followup_days,
                        table.lost_reason_enforced],
                    [[0, CurrentTimestamp(), cls.default_dormant_days(),
                            cls.default_quotation_followup_days(), False]]))

    @classmethod
    def default_dormant_days(cls):
        return 365

    @classmethod
    def default_quotation_followup_days(cls):
        return 3
