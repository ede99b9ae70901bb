# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime
from collections import defaultdict

from sql import Literal, Null
from sql.operators import Or
from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction

from .common import (
    FIRST_DATE,
    LAST_DATE,
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
    crm_quotation_expire = fields.Date(
        "Quotation Expires", readonly=True,
        help="The quotation date plus the validity.")

    @classmethod
    def __register__(cls, module):
        table_h = cls.__table_handler__(module)
        fill_expire = not table_h.column_exist('crm_quotation_expire')
        super().__register__(module)
        if fill_expire:
            cls._fill_quotation_expire()

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.crm_channel, Index.Equality(cardinality='low'))),
                # The follow-up job: quotations without follow-up that
                # expire in the next days (no parameter: SQLite too)
                Index(t,
                    (t.state, Index.Equality(cardinality='low')),
                    (t.crm_quotation_expire, Index.Range()),
                    where=t.crm_quotation_followup == Null),
                # The dormancy job: the last order of a customer
                Index(t,
                    (t.party, Index.Range()),
                    (t.sale_date, Index.Range(order='DESC'))),
                })

    @classmethod
    def _workflow_fields(cls):
        # The state stays upstream's: sale moves it by its buttons.
        return ((super()._workflow_fields() - {'state'})
            | {'crm_quotation_followup', 'crm_quotation_expire'})

    @classmethod
    def _compute_quotation_expire(cls, quotation_date, validity):
        """Return the stored expiry: upstream's quotation_expire when it
        does not depend on today (the quotation date is set when quoting)"""
        if quotation_date is None or validity is None:
            return None
        try:
            expire = quotation_date + validity
        except OverflowError:
            return None
        # beyond the suite's dates no follow-up is ever due
        return expire if FIRST_DATE <= expire <= LAST_DATE else None

    def compute_fields(self, field_names=None):
        values = super().compute_fields(field_names=field_names)
        if (field_names is None
                or {'quotation_date', 'quotation_validity'} & field_names):
            expire = self._compute_quotation_expire(
                self.quotation_date, self.quotation_validity)
            if getattr(self, 'crm_quotation_expire', None) != expire:
                values['crm_quotation_expire'] = expire
        return values

    @classmethod
    def _fill_quotation_expire(cls):
        "Store the expiry of the sales that existed before the column"
        cursor = Transaction().connection.cursor()
        table = cls.__table__()
        cursor.execute(*table.select(
                table.id, table.quotation_date, table.quotation_validity,
                where=(table.quotation_date != Null)
                & (table.quotation_validity != Null)))
        by_expire = defaultdict(list)
        for id_, quotation_date, validity in cursor.fetchall():
            if isinstance(quotation_date, str):
                quotation_date = datetime.date.fromisoformat(quotation_date)
            if not isinstance(validity, datetime.timedelta):
                validity = datetime.timedelta(seconds=float(validity))
            expire = cls._compute_quotation_expire(quotation_date, validity)
            if expire:
                by_expire[expire].append(id_)
        for expire, ids in by_expire.items():
            for sub_ids in grouped_slice(ids, backend.MAX_QUERY_PARAMS):
                cursor.execute(*table.update(
                        [table.crm_quotation_expire], [expire],
                        where=reduce_ids(table.id, list(sub_ids))))

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

    def _get_quotation_followup(self, date, employee=None):
        "Return the follow-up activity, for employee when given"
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
            employee=employee or self.crm_salesperson,
            date=datetime.datetime.combine(date, datetime.time(8)),
            state='planned',
            )

    @classmethod
    def plan_quotation_followups(cls):
        """Plan one follow-up for each quotation about to expire (ir.cron):
        one query finds them, the queue plans them"""
        cursor = Transaction().connection.cursor()
        cursor.execute(*cls._quotation_followup_query())
        sales = cls.browse([i for i, in cursor])
        enqueue(cls, 'plan_quotation_followup',
            [s for s, _ in cls._quotation_followups_due(sales)])

    @classmethod
    def _quotation_followup_query(cls):
        """Return the query of the ids of the quotations whose follow-up is
        due, by the stored expiry: within the margin of each company's
        today (the companies' time zones may give different days)"""
        pool = Pool()
        Company = pool.get('company.company')
        Configuration = pool.get('crm.configuration')
        Date = pool.get('ir.date')
        table = cls.__table__()
        margin = datetime.timedelta(
            days=Configuration(1).quotation_followup_days)
        by_today = defaultdict(list)
        for company in Company.search([]):
            with Transaction().set_context(company=company.id):
                by_today[Date.today()].append(company.id)
        due = Or([
                table.company.in_(company_ids)
                & (table.crm_quotation_expire >= today)
                & (table.crm_quotation_expire <= today + margin)
                for today, company_ids in by_today.items()])
        return table.select(table.id,
            where=(table.state == 'quotation')
            & (table.crm_quotation_followup == Null)
            & (table.quotation_validity != Null)
            & (due if by_today else Literal(False)),
            order_by=[table.id])

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
        Party = pool.get('party.party')
        # Once per quotation also when two runs meet: a concurrent run
        # that planned these sales makes this one retry and skip them.
        lock(sales)
        sales = cls.search([
                ('id', 'in', [s.id for s in sales]),
                ] + cls._quotation_followup_domain())
        due = list(cls._quotation_followups_due(sales))
        # the customer's account manager follows up, else the salesperson
        managers = Party.account_managers_of(
            (s.company.id, s.party.id) for s, _ in due)
        to_plan = [(sale, sale._get_quotation_followup(today,
                    employee=managers.get((sale.company.id, sale.party.id))))
            for sale, today in due]
        Activity.save([a for _, a in to_plan])
        for sale, activity in to_plan:
            sale.crm_quotation_followup = activity
        with workflow_writes():
            cls.save([s for s, _ in to_plan])

