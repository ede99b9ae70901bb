# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime

from trytond.i18n import gettext
from trytond.model import Index, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction

from .common import (
    ChannelEventMixin,
    SafeValuesMixin,
    WorkflowFieldsMixin,
    lock,
    updates_lifecycle,
    workflow_writes,
)
from .ir import enqueue
from .party import channel_field


class Sale(
        WorkflowFieldsMixin, SafeValuesMixin, ChannelEventMixin,
        metaclass=PoolMeta):
    __name__ = 'sale.sale'

    crm_channel = channel_field(
        states={
            'readonly': Eval('state') != 'draft',
            })
    crm_quotation_followup = fields.Many2One(
        'crm.activity', "Quotation Follow-up", readonly=True,
        ondelete='SET NULL',
        help="The follow-up planned before the quotation expires.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.crm_channel, Index.Equality(cardinality='low'))))

    @classmethod
    def _workflow_fields(cls):
        # The state stays upstream's: sale moves it by its buttons.
        return ((super()._workflow_fields() - {'state'})
            | {'crm_quotation_followup'})

    @classmethod
    def copy(cls, sales, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('crm_quotation_followup', None)
        return super().copy(sales, default=default)

    @classmethod
    @updates_lifecycle(reactivate=True)
    def quote(cls, sales):
        super().quote(sales)

    @classmethod
    @updates_lifecycle(reactivate=True)
    def confirm(cls, sales):
        super().confirm(sales)

    @classmethod
    @updates_lifecycle()
    def cancel(cls, sales):
        super().cancel(sales)

    @property
    def crm_salesperson(self):
        "The employee who follows the quotation up"
        if self.quoted_by:
            return self.quoted_by
        origin = getattr(self, 'origin', None)
        return getattr(origin, 'employee', None)

    def _get_quotation_followup(self, date):
        pool = Pool()
        Activity = pool.get('crm.activity')
        return Activity(
            company=self.company,
            activity_type='call',
            direction='out',
            subject=gettext(
                'crm_lifecycle.msg_quotation_followup_subject',
                sale=self.rec_name,
                date=self.quotation_expire),
            party=self.party,
            contact=self.contact,
            resource=self,
            employee=self.crm_salesperson,
            date=datetime.datetime.combine(date, datetime.time(8)),
            state='planned',
            )

    @classmethod
    def plan_quotation_followups(cls):
        """Plan one follow-up for each quotation about to expire (ir.cron):
        one query finds them, the queue plans them"""
        sales = cls.search(cls._quotation_followup_domain())
        enqueue(cls, 'plan_quotation_followup',
            [s for s, _ in cls._quotation_followups_due(sales)])

    @classmethod
    def _quotation_followup_domain(cls):
        return [
            ('state', '=', 'quotation'),
            ('quotation_validity', '!=', None),
            ('crm_quotation_followup', '=', None),
            ]

    @classmethod
    def _quotation_followups_due(cls, sales):
        "Yield (sale, today) for the sales whose follow-up is due"
        pool = Pool()
        Configuration = pool.get('crm.configuration')
        Date = pool.get('ir.date')
        config = Configuration(1)
        margin = datetime.timedelta(days=config.quotation_followup_days)
        for sale in sales:
            with Transaction().set_context(company=sale.company.id):
                today = Date.today()
            expire = sale.quotation_expire
            if expire and expire - margin <= today <= expire:
                yield sale, today

    @classmethod
    def plan_quotation_followup(cls, sales):
        """Plan the follow-up of the sales that still need one (the task of
        plan_quotation_followups)"""
        pool = Pool()
        Activity = pool.get('crm.activity')
        # Once per quotation also when two runs meet: a concurrent run
        # that planned these sales makes this one retry and skip them.
        lock(sales)
        sales = cls.search([
                ('id', 'in', [s.id for s in sales]),
                ] + cls._quotation_followup_domain())
        to_plan = [(sale, sale._get_quotation_followup(today))
            for sale, today in cls._quotation_followups_due(sales)]
        Activity.save([a for _, a in to_plan])
        for sale, activity in to_plan:
            sale.crm_quotation_followup = activity
        with workflow_writes():
            cls.save([s for s, _ in to_plan])

