# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime
from collections import defaultdict

from sql import Null
from sql.operators import Exists
from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .common import (
    SafeValuesMixin,
    WorkflowFieldsMixin,
    client_call,
    lock,
    model_selection,
    workflow_writes,
)
from .exceptions import HistoryAccessError, StageAccessError
from .ir import QUEUE_BATCH, enqueue, has_worker

STAGES = [
    ('contact', "Contact"),
    ('lead', "Lead"),
    ('quoted', "Quoted"),
    ('customer', "Customer"),
    ('lost', "Lost"),
    ('dormant', "Dormant"),
    ]
# The forward order; lost and dormant stand aside and only a new
# opportunity or order brings a party back.
RANK = {'contact': 0, 'lead': 1, 'quoted': 2, 'customer': 3}


class LifecycleHistory(SafeValuesMixin, ModelSQL, ModelView):
    __string__ = "Lifecycle Stage History"
    __name__ = 'crm.lifecycle.history'

    party = fields.Many2One(
        'party.party', "Party", required=True, ondelete='CASCADE')
    from_stage = fields.Selection(
        [(None, "")] + STAGES, "From", sort=False, readonly=True)
    to_stage = fields.Selection(
        STAGES, "To", required=True, sort=False, readonly=True)
    date = fields.DateTime("Date", required=True, readonly=True)
    origin = fields.Reference(
        "Origin", selection='get_origin', readonly=True)
    user = fields.Many2One('res.user', "User", readonly=True)
    manual = fields.Boolean("Set by Hand", readonly=True)
    note = fields.Text("Note", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t,
                    (t.party, Index.Range()),
                    (t.date, Index.Range(order='DESC'))),
                Index(t,
                    (t.to_stage, Index.Equality(cardinality='low')),
                    (t.date, Index.Range())),
                })
        cls._order = [('date', 'DESC'), ('id', 'DESC')]

    @classmethod
    def default_date(cls):
        return datetime.datetime.now()

    def get_rec_name(self, name):
        # the timeline's document column names the stage reached
        stages = dict(self.fields_get(['to_stage'])['to_stage']['selection'])
        return stages.get(self.to_stage, self.to_stage or '')

    @classmethod
    def default_manual(cls):
        return False

    @classmethod
    def _check_recorded_by_system(cls):
        # Only the stage changes record their history, also when a group
        # was given rights on the model; refused before any row changes.
        if client_call():
            raise HistoryAccessError(gettext(
                    'crm_lifecycle.msg_lifecycle_history_system'))

    @classmethod
    def create(cls, vlist):
        cls._check_recorded_by_system()
        return super().create(vlist)

    @classmethod
    def write(cls, *args):
        cls._check_recorded_by_system()
        super().write(*args)

    @classmethod
    def delete(cls, histories):
        cls._check_recorded_by_system()
        super().delete(histories)

    @classmethod
    def _get_origin(cls):
        "Return the models that may change a lifecycle stage"
        return [
            'sale.opportunity', 'sale.sale', 'account.invoice',
            'crm.activity']

    @classmethod
    def get_origin(cls):
        return model_selection(cls._get_origin())


class PartyLifecycleMixin(WorkflowFieldsMixin):
    """The lifecycle stage of a party, derived from its documents

    Only the stage changes set the stage, its date and its history."""
    __slots__ = ()

    lifecycle_stage = fields.Selection(
        STAGES, "Lifecycle Stage", required=True, readonly=True, sort=False,
        help="Derived from the party's opportunities, quotations, orders "
        "and invoices.")
    lifecycle_since = fields.DateTime("Stage Since", readonly=True)
    lifecycle_history = fields.One2Many(
        'crm.lifecycle.history', 'party', "Stage History", readonly=True)

    @classmethod
    def default_lifecycle_stage(cls):
        return 'contact'

    @classmethod
    def default_lifecycle_since(cls):
        return datetime.datetime.now()

    @classmethod
    def _workflow_fields(cls):
        return super()._workflow_fields() | {
            'lifecycle_stage', 'lifecycle_since', 'lifecycle_history'}

    @classmethod
    def _check_workflow_values(cls, mode, values):
        # The stage has its own message that names the manual way
        if (client_call() and 'lifecycle_stage' in values
                and (mode == 'write' or not cls._client_may_set(
                        'lifecycle_stage', values['lifecycle_stage']))):
            raise StageAccessError(
                gettext('crm_lifecycle.msg_stage_write_direct'))
        super()._check_workflow_values(mode, values)

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        # A new party, also a copy, enters its stage now
        if mode == 'create' and not values.get('lifecycle_since'):
            values['lifecycle_since'] = datetime.datetime.now()
        return values

    @classmethod
    def on_modification(cls, mode, parties, field_names=None):
        pool = Pool()
        History = pool.get('crm.lifecycle.history')
        super().on_modification(mode, parties, field_names=field_names)
        if mode == 'create':
            user = Transaction().user
            with without_check_access(), workflow_writes():
                History.save([History(
                            party=p, from_stage=None,
                            to_stage=p.lifecycle_stage,
                            date=p.lifecycle_since or p.create_date,
                            user=user or None)
                        for p in parties])

    @classmethod
    def copy(cls, parties, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('lifecycle_stage', cls.default_lifecycle_stage())
        default.setdefault('lifecycle_since', None)
        default.setdefault('lifecycle_history', None)
        return super().copy(parties, default=default)

    @classmethod
    def _lifecycle_order_states(cls):
        return ['confirmed', 'processing', 'done']

    @classmethod
    def _lifecycle_opportunity_open_states(cls):
        return ['lead', 'opportunity', 'converted']

    @classmethod
    def _lifecycle_invoice_states(cls):
        return ['posted', 'paid']

    @classmethod
    def _lifecycle_facts(cls, party_ids):
        """Return {party id: set of facts} from grouped queries:
        'order', 'quotation', 'opportunity' (open) and 'lost' (of every
        party when party_ids is None)"""
        pool = Pool()
        Sale = pool.get('sale.sale')
        Opportunity = pool.get('sale.opportunity')
        Invoice = pool.get('account.invoice')
        cursor = Transaction().connection.cursor()
        sale = Sale.__table__()
        opportunity = Opportunity.__table__()
        invoice = Invoice.__table__()

        def of(table, sub_ids):
            if sub_ids is None:
                return table.party != Null
            return reduce_ids(table.party, sub_ids)

        if party_ids is None:
            slices = [None]
        else:
            slices = map(list, grouped_slice(
                    party_ids, backend.MAX_QUERY_PARAMS))
        facts = defaultdict(set)
        for sub_ids in slices:
            queries = [
                ('order', sale.select(
                        sale.party,
                        where=of(sale, sub_ids)
                        & sale.state.in_(cls._lifecycle_order_states()),
                        group_by=sale.party)),
                ('order', invoice.select(
                        invoice.party,
                        where=of(invoice, sub_ids)
                        & (invoice.type == 'out')
                        & invoice.state.in_(cls._lifecycle_invoice_states()),
                        group_by=invoice.party)),
                ('quotation', sale.select(
                        sale.party,
                        where=of(sale, sub_ids)
                        & (sale.state == 'quotation'),
                        group_by=sale.party)),
                ('opportunity', opportunity.select(
                        opportunity.party,
                        where=of(opportunity, sub_ids)
                        & opportunity.state.in_(
                            cls._lifecycle_opportunity_open_states()),
                        group_by=opportunity.party)),
                ('lost', opportunity.select(
                        opportunity.party,
                        where=of(opportunity, sub_ids)
                        & (opportunity.state == 'lost'),
                        group_by=opportunity.party)),
                ]
            for fact, query in queries:
                cursor.execute(*query)
                for party_id, in cursor.fetchall():
                    facts[party_id].add(fact)
        return facts

    @classmethod
    def derive_lifecycle_stage(cls, parties):
        "Return {party id: stage} as the documents say"
        return cls._derive_lifecycle_stages([p.id for p in parties])

    @classmethod
    def _derive_lifecycle_stages(cls, party_ids, facts=None):
        "Return {party id: stage} of the party ids as the documents say"
        if facts is None:
            facts = cls._lifecycle_facts(party_ids)
        stages = {}
        for party_id in party_ids:
            party_facts = facts.get(party_id, set())
            if 'order' in party_facts:
                stage = 'customer'
            elif 'quotation' in party_facts:
                stage = 'quoted'
            elif 'opportunity' in party_facts:
                stage = 'lead'
            elif 'lost' in party_facts:
                stage = 'lost'
            else:
                stage = 'contact'
            stages[party_id] = stage
        return stages

    @classmethod
    def update_lifecycle_from(cls, documents, reactivate=False):
        "Update the stage of the parties of documents that changed"
        origins = {}
        for document in documents:
            if document.party:
                origins.setdefault(document.party.id, document)
        cls.update_lifecycle_stage(
            cls.browse(list(origins)), origins=origins,
            reactivate=reactivate)

    @classmethod
    def update_lifecycle_stage(cls, parties, origins=None, reactivate=False):
        """Move the parties to the stage their documents give

        Stages only go forward, but a party may become lost; lost and
        dormant parties come back only when reactivate is set (a new
        opportunity, quotation, order or invoice)."""
        if not parties:
            return
        derived = cls.derive_lifecycle_stage(parties)
        changes = defaultdict(list)
        for party in parties:
            current, new = party.lifecycle_stage, derived[party.id]
            if new == current:
                continue
            if current in {'lost', 'dormant'}:
                if not reactivate or new in {'contact', 'lost'}:
                    continue
            elif new == 'lost':
                if current == 'customer':
                    continue
            elif RANK[new] <= RANK[current]:
                continue
            changes[new].append(party)
        for stage, stage_parties in changes.items():
            cls._set_lifecycle_stage(stage_parties, stage, origins=origins)

    @classmethod
    def _set_lifecycle_stage(
            cls, parties, stage, origins=None, manual=False, note=None):
        pool = Pool()
        History = pool.get('crm.lifecycle.history')
        now = datetime.datetime.now()
        user = Transaction().user
        origins = origins or {}
        histories = []
        for party in parties:
            if party.lifecycle_stage == stage:
                continue
            origin = origins.get(party.id)
            histories.append(History(
                    party=party, from_stage=party.lifecycle_stage,
                    to_stage=stage, date=now,
                    origin=str(origin) if origin else None,
                    user=user or None, manual=manual, note=note))
        if not histories:
            return
        with without_check_access(), workflow_writes():
            History.save(histories)
            cls.write([h.party for h in histories], {
                    'lifecycle_stage': stage,
                    'lifecycle_since': now,
                    })

    @classmethod
    def set_lifecycle_stage_manually(cls, parties, stage, note=None):
        pool = Pool()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        transaction = Transaction()
        if transaction.user and transaction.check_access:
            group = ModelData.get_id('crm_lifecycle', 'group_crm_admin')
            if group not in User.get_groups():
                raise StageAccessError(
                    gettext('crm_lifecycle.msg_stage_manual_admin'))
        cls._set_lifecycle_stage(parties, stage, manual=True, note=note)

    @classmethod
    def recompute_lifecycle_stage(cls, parties=None):
        """Set the parties (all when None) to the stage their documents
        give, ignoring the forward-only rule, with the history dated by the
        documents: what the activation of the module does for the parties
        that exist then (see derive_lifecycle)."""
        cls.derive_lifecycle(
            [p.id for p in parties] if parties is not None else None)

    @classmethod
    def recompute_all_lifecycle_stages(cls):
        """Recompute the stages of every party, through the queue when a
        worker runs it (ir.cron method, or from trytond-console)"""
        if not has_worker():
            # all at once, set-based
            cls.derive_lifecycle(None)
            return
        cursor = Transaction().connection.cursor()
        party = cls.__table__()
        cursor.execute(*party.select(party.id, order_by=[party.id]))
        # browse per task: instantiating many records at once costs the
        # square of their number
        for sub_ids in grouped_slice(
                [i for i, in cursor], QUEUE_BATCH):
            enqueue(cls, 'recompute_lifecycle_stage',
                cls.browse(list(sub_ids)))

    @classmethod
    def _dormant_query(cls, limit_date, party_ids=None):
        """Return a query of customer ids without order or activity since
        limit_date (among party_ids when given)

        The customers are the candidates; for each, an index lookup per
        source looks for one document since limit_date (sale and invoice
        by (party, date), activity by (party, date)), so the cost follows
        the customers, not the documents."""
        party = cls.__table__()
        where = party.lifecycle_stage == 'customer'
        for query in cls._dormant_recent_queries(party, limit_date):
            where &= ~Exists(query)
        if party_ids is not None:
            where &= reduce_ids(party.id, party_ids)
        return party.select(party.id, where=where, order_by=[party.id])

    @classmethod
    def _dormant_recent_queries(cls, party, limit_date):
        """Yield the queries of the documents of party (the outer table)
        since limit_date that keep a customer active: orders and quotations
        (by sale date, else quotation date, as derive_lifecycle dates
        them), posted customer invoices and done activities"""
        pool = Pool()
        Sale = pool.get('sale.sale')
        Invoice = pool.get('account.invoice')
        Activity = pool.get('crm.activity')
        sale = Sale.__table__()
        invoice = Invoice.__table__()
        activity = Activity.__table__()
        yield sale.select(sale.id,
            where=(sale.party == party.id)
            & sale.state.in_(cls._lifecycle_order_states() + ['quotation'])
            & ((sale.sale_date >= limit_date)
                | ((sale.sale_date == Null)
                    & (sale.quotation_date >= limit_date))))
        yield invoice.select(invoice.id,
            where=(invoice.party == party.id)
            & (invoice.type == 'out')
            & invoice.state.in_(cls._lifecycle_invoice_states())
            & (invoice.invoice_date >= limit_date))
        yield activity.select(activity.id,
            where=(activity.party == party.id)
            & (activity.state == 'done')
            & (activity.date >= datetime.datetime.combine(
                    limit_date, datetime.time())))

    @classmethod
    def _dormant_limit_date(cls):
        pool = Pool()
        Configuration = pool.get('crm.configuration')
        Date = pool.get('ir.date')
        config = Configuration(1)
        return Date.today() - datetime.timedelta(days=config.dormant_days)

    @classmethod
    def mark_dormant(cls):
        """Mark customers without order and activity for too long as
        dormant (ir.cron): one query finds them, the queue marks them"""
        cursor = Transaction().connection.cursor()
        cursor.execute(*cls._dormant_query(cls._dormant_limit_date()))
        enqueue(cls, 'mark_parties_dormant',
            cls.browse([i for i, in cursor]), run=cls._mark_dormant)

    @classmethod
    def mark_parties_dormant(cls, parties):
        """Mark the parties dormant that still are when it runs (the task
        of mark_dormant): a party that ordered since, or that a concurrent
        run marked, is left alone"""
        # A concurrent run waits for this one and then finds them dormant
        lock(parties)
        cursor = Transaction().connection.cursor()
        cursor.execute(*cls._dormant_query(
                cls._dormant_limit_date(), [p.id for p in parties]))
        cls._mark_dormant(cls.browse([i for i, in cursor]))

    @classmethod
    def _mark_dormant(cls, parties):
        "Mark the customers dormant and plan what follows"
        cls._set_lifecycle_stage(parties, 'dormant')
        cls._plan_dormant_followups(parties)

    @classmethod
    def _plan_dormant_followups(cls, parties):
        "Plan the activities that win the dormant customers back"


class SetStageStart(ModelView):
    __string__ = "Set Lifecycle Stage"
    __name__ = 'crm.lifecycle.set_stage.start'

    stage = fields.Selection(STAGES, "Stage", required=True, sort=False)
    note = fields.Text("Note", help="Why the stage is set by hand.")


class SetStage(Wizard):
    __name__ = 'crm.lifecycle.set_stage'

    start = StateView(
        'crm.lifecycle.set_stage.start',
        'crm_lifecycle.lifecycle_set_stage_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Set", 'set_', 'tryton-ok', default=True),
            ])
    set_ = StateTransition()

    def default_start(self, fields):
        if len(self.records) == 1:
            return {'stage': self.record.lifecycle_stage}
        return {}

    def transition_set_(self):
        self.model.set_lifecycle_stage_manually(
            self.records, self.start.stage, note=self.start.note)
        return 'end'
