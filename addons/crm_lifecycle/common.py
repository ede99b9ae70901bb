# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import functools

from sql import For
from trytond import backend
from trytond.i18n import gettext
from trytond.model import Workflow, fields
from trytond.pool import Pool
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction

from .exceptions import WorkflowFieldError


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


def _is_empty(value):
    return value is None or value is False or value == '' or value == []


class WorkflowFieldsMixin:
    """Refuse the fields that only the model's own transitions and jobs set
    when a client (RPC, REST, proteus) creates, writes or copies records.

    readonly and states are enforced by the client only; the server refuses
    here. The suite's own code sets the fields inside workflow_writes()."""
    __slots__ = ()

    @classmethod
    def _workflow_fields(cls):
        "Return the names of the fields that clients may not set"
        names = set()
        if hasattr(cls, '_transition_state'):
            names.add(cls._transition_state)
        return names

    @classmethod
    def _client_may_set(cls, name, value):
        "Whether a client may create a record with value for name"
        if _is_empty(value):
            return True
        default = getattr(cls, f'default_{name}', None)
        return default is not None and value == default()

    @classmethod
    def _check_workflow_values(cls, mode, values):
        if not client_call():
            return
        names = cls._workflow_fields() & set(values)
        if mode == 'create':
            names = {n for n in names
                if not cls._client_may_set(n, values[n])}
        if names:
            name = sorted(names)[0]
            raise WorkflowFieldError(gettext(
                    'crm_lifecycle.msg_workflow_field',
                    field=cls.__names__(name)['field'],
                    model=cls.__names__()['model']))

    @classmethod
    def create(cls, vlist):
        for values in vlist:
            cls._check_workflow_values('create', values)
        return super().create(vlist)

    @classmethod
    def write(cls, *args):
        actions = iter(args)
        to_lock = []
        timestamps = Transaction().timestamp
        for records, values in zip(actions, actions):
            cls._check_workflow_values('write', values)
            if timestamps:
                to_lock.extend(r for r in records
                    if f'{cls.__name__},{r.id}' in timestamps)
        # The timestamp check of a client's stale form must see the write
        # committed before it: no lost update.
        lock(to_lock)
        return super().write(*args)


def client_call(external=None):
    """Whether the current call comes from a client and not the suite's code.
    check_modification runs without access checks: pass its external."""
    transaction = Transaction()
    if external is None:
        external = transaction.user and transaction.check_access
    return bool(external and not transaction.context.get('_crm_workflow'))


def check_state_fields(records, values, names, states, error):
    """Refuse to write the fields names of the records whose state is not in
    states; error(record, field) returns the exception, field being the
    string of the first field written"""
    names = names & set(values)
    if not names:
        return
    for record in records:
        if getattr(record, record._transition_state) not in states:
            field = record.__names__(sorted(names)[0])['field']
            raise error(record, field)


def workflow_writes():
    """Return a context manager inside which the suite's own transitions
    and jobs set workflow fields. Clients cannot enter it: the dispatcher
    drops context keys that start with an underscore."""
    return Transaction().set_context(_crm_workflow=True)


def transition(state):
    "Workflow.transition whose state write is the workflow's own"
    def decorator(func):
        func = Workflow.transition(state)(func)

        @functools.wraps(func)
        def wrapper(cls, records, *args, **kwargs):
            with workflow_writes():
                return func(cls, records, *args, **kwargs)
        return wrapper
    return decorator


class _ForNoKeyUpdate(For):
    "FOR NO KEY UPDATE: does not block the inserts that refer to the rows"
    __slots__ = ()

    def __str__(self):
        return 'FOR NO KEY' + super().__str__()[len('FOR'):]


# How long a SQLite write transaction waits for the one before it (ms)
SQLITE_BUSY_TIMEOUT = 30_000


def lock(records):
    """Serialize a check-then-act on records with concurrent transactions;
    call it before reading what the check reads.

    PostgreSQL: wait for the row locks of concurrent transactions. When the
    holder changed a locked row, this transaction fails to serialize and the
    dispatcher retries it on a fresh snapshot, where the check sees what the
    holder did; so an action changes the row it locked or touch()es it.
    trytond's Model.lock() does not wait (NOWAIT) and answers simultaneous
    clicks with 'service unavailable'.

    SQLite: Model.lock() is a no-op and Python's sqlite3 begins a transaction
    only at the first write, so the reads of a check run outside of it. A
    first UPDATE of the rows takes the database's write lock (BEGIN
    IMMEDIATE, waiting for the writer before), and the record caches are
    dropped so that the check reads what that writer committed."""
    records = [r for r in records if r.id is not None and r.id >= 0]
    if not records:
        return
    transaction = Transaction()
    Model = records[0].__class__
    table = Model.__table__()
    cursor = transaction.connection.cursor()
    if backend.name == 'sqlite':
        cursor.execute(f'PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT:d}')
        _touch(cursor, table, records)
        for cache in transaction.cache.values():
            cache.clear()
        # invalidates the records' local caches
        transaction.counter += 1
    else:
        for sub_ids in grouped_slice([r.id for r in records]):
            cursor.execute(*table.select(
                    table.id,
                    where=reduce_ids(table.id, list(sub_ids)),
                    for_=_ForNoKeyUpdate('UPDATE')))
            cursor.fetchall()


def touch(records):
    """Change the rows of locked records without changing a value, so that
    the transactions waiting in lock() on them retry on a fresh snapshot"""
    records = [r for r in records if r.id is not None and r.id >= 0]
    if records and backend.name == 'postgresql':
        Model = records[0].__class__
        cursor = Transaction().connection.cursor()
        _touch(cursor, Model.__table__(), records)


def _touch(cursor, table, records):
    for sub_ids in grouped_slice([r.id for r in records]):
        cursor.execute(*table.update(
                [table.write_date], [table.write_date],
                where=reduce_ids(table.id, list(sub_ids))))
