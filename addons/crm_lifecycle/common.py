# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime
import functools
import math
from decimal import Decimal

from sql import For
from trytond import backend
from trytond.i18n import gettext
from trytond.model import Model, Workflow, fields
from trytond.pool import Pool
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction

from .exceptions import FieldValueError, WorkflowFieldError


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
        for sub_ids in grouped_slice(
            [r.id for r in records], backend.MAX_QUERY_PARAMS):
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
    for sub_ids in grouped_slice(
            [r.id for r in records], backend.MAX_QUERY_PARAMS):
        cursor.execute(*table.update(
                [table.write_date], [table.write_date],
                where=reduce_ids(table.id, list(sub_ids))))


def readonly_when(Model, names, condition, depends):
    """Make the fields of Model readonly also when the PYSON condition
    holds (called from __setup__); depends are the fields it reads"""
    for name in names:
        field = getattr(Model, name)
        field.states = field.states.copy()
        readonly = field.states.get('readonly')
        field.states['readonly'] = (
            readonly | condition if readonly else condition)
        field.depends |= set(depends)


# The values the suite's fields take (see "Hostile input" in doc/design.rst)
FIRST_DATE = datetime.date(1900, 1, 1)
LAST_DATE = datetime.date(2999, 12, 31)
# No duration between two dates of the range is longer
MAX_DURATION = LAST_DATE - FIRST_DATE
# Integer columns are 32-bit on PostgreSQL (BIGINT 64-bit)
INTEGER_BITS = {'INTEGER': 32, 'BIGINT': 64}
# Digits before the decimal point of a Numeric whose digits do not say
# (amounts in a currency): with Decimal's 28 digits of precision, rounding
# them keeps room for the decimals
NUMERIC_DIGITS = 16
# Digits after the decimal point beyond which no value is meant
NUMERIC_DECIMALS = 28
# Digits before the decimal point of a Float without digits (hours): a
# billion still converts to a Python timedelta
FLOAT_DIGITS = 9
# Characters of a Char without size and of a selection key: a PostgreSQL
# B-tree index entry holds at most 2704 bytes, 4 per character in UTF-8
CHAR_SIZE = 512
_SYSTEM_FIELDS = {'id', 'create_uid', 'create_date', 'write_uid', 'write_date'}


class SafeValuesMixin:
    """Refuse, before anything is written, the values that the database
    cannot store or that would break the suite's computations, with a
    message that names the field: not a number, infinity, too many digits,
    a negative quantity, a date outside FIRST_DATE..LAST_DATE, a NUL
    character or a lone surrogate, a text too long for its field, an id
    that is no record id.

    A model that the suite defines has all its stored fields checked; an
    upstream model only the fields that the suite's classes taking this
    mixin add, so that upstream stays as it was. Put it after
    WorkflowFieldsMixin: a field that clients may not set is refused as
    such first."""
    __slots__ = ()

    @classmethod
    def __post_setup__(cls):
        super().__post_setup__()
        # The classes registered in the pool for the model, the base last
        registered = [k for k in cls.__mro__
            if vars(k).get('__name__') == cls.__name__]
        if registered and issubclass(registered[-1], SafeValuesMixin):
            names = set(cls._fields)
        else:
            names = set()
            for klass in registered:
                if issubclass(klass, SafeValuesMixin):
                    names.update(n for n in dir(klass)
                        if isinstance(getattr(klass, n, None), fields.Field))
        cls._safe_value_fields = frozenset(
            n for n in names - _SYSTEM_FIELDS
            if n in cls._fields
            and not isinstance(cls._fields[n], fields.Function))

    @classmethod
    def _signed_fields(cls):
        """Return the names of the Numeric, Float and TimeDelta fields that
        take negative values; the others hold quantities, amounts, shares
        and durations"""
        return set()

    @classmethod
    def _check_safe_values(cls, vlist):
        names = cls._safe_value_fields
        client = client_call()
        signed = cls._signed_fields()
        for values in vlist:
            for name in sorted(names & values.keys()):
                value = values[name]
                if value is None:
                    continue
                field = cls._fields[name]
                error = _value_error(
                    field, value, client and name not in signed)
                if error:
                    msg_id, variables = error
                    raise FieldValueError(gettext(
                            f'crm_lifecycle.{msg_id}',
                            field=cls.__names__(name)['field'],
                            model=cls.__names__()['model'],
                            **variables))

    @classmethod
    def create(cls, vlist):
        cls._check_safe_values(vlist)
        return super().create(vlist)

    @classmethod
    def write(cls, *args):
        actions = iter(args)
        cls._check_safe_values(values for _, values in zip(actions, actions))
        return super().write(*args)


def _value_error(field, value, non_negative):
    """Return (message id, variables) of what is wrong with value for
    field, or None; non_negative applies to Numeric, Float and TimeDelta"""
    if isinstance(field, fields.Float):
        return _number_error(field, value, non_negative)
    elif isinstance(field, fields.Integer):
        return _integer_error(field, value)
    elif isinstance(field, fields.TimeDelta):
        return _duration_error(value, non_negative)
    elif isinstance(field, (fields.Date, fields.Timestamp)):
        return _date_error(field, value)
    elif isinstance(field, fields.Time):
        if isinstance(value, str):
            try:
                value = datetime.time.fromisoformat(value)
            except ValueError:
                return 'msg_value_invalid', {}
        if not isinstance(value, datetime.time):
            return 'msg_value_invalid', {}
    elif isinstance(field, fields.Char):
        size = field.size if isinstance(field.size, int) else None
        if size is None and not isinstance(field, fields.Text):
            size = CHAR_SIZE
        return _text_error(value, size)
    elif isinstance(field, fields.Selection):
        return _text_error(value, CHAR_SIZE)
    elif isinstance(field, fields.MultiSelection):
        if not isinstance(value, (list, tuple)):
            return 'msg_value_invalid', {}
        for item in value:
            if error := _text_error(item, CHAR_SIZE):
                return error
    elif isinstance(field, fields.Reference):
        return _reference_error(value)
    elif isinstance(field, fields.Many2One):
        return _id_error(value)


def _number_error(field, value, non_negative):
    "Check a value of a Float or Numeric field (a Numeric is a Float)"
    numeric = isinstance(field, fields.Numeric)
    digits = field.digits
    if isinstance(digits, tuple) and isinstance(digits[0], int):
        integer_digits = digits[0]
    else:
        integer_digits = NUMERIC_DIGITS if numeric else FLOAT_DIGITS
    try:
        if not numeric:
            number = float(value)
        elif isinstance(value, float):
            # the decimal the client meant, not the binary expansion
            number = Decimal(repr(value))
        else:
            number = Decimal(value)
    except (TypeError, ValueError, ArithmeticError):
        return 'msg_value_invalid', {}
    if numeric:
        if not number.is_finite() or (
                number and -number.as_tuple().exponent > NUMERIC_DECIMALS):
            return 'msg_value_invalid', {}
        magnitude = number.adjusted() + 1 if number else 0
    else:
        if not math.isfinite(number):
            return 'msg_value_invalid', {}
        magnitude = math.floor(math.log10(abs(number))) + 1 if number else 0
    if non_negative and number < 0:
        return 'msg_value_negative', {}
    if magnitude > integer_digits:
        return 'msg_value_too_large', {'digits': integer_digits}


def _integer_error(field, value):
    try:
        number = int(value)
        # int() would drop what follows the decimal point
        if not isinstance(value, str) and number != value:
            raise ValueError
    except (TypeError, ValueError, ArithmeticError):
        return 'msg_value_invalid', {}
    bits = INTEGER_BITS.get(field._sql_type, 64)
    limit = 2 ** (bits - 1) - 1
    if not -limit <= number <= limit:
        return 'msg_integer_out_of_range', {
            'minimum': _format_number(-limit),
            'maximum': _format_number(limit),
            }


def _duration_error(value, non_negative):
    try:
        if isinstance(value, datetime.timedelta):
            duration = value
        elif isinstance(value, (int, float)):
            # seconds, as TimeDelta.sql_format takes them
            duration = datetime.timedelta(seconds=value)
        elif isinstance(value, str):
            hours, minutes, seconds = (value.split(':') + ['00'])[:3]
            duration = datetime.timedelta(hours=int(hours),
                minutes=int(minutes), seconds=float(seconds))
        else:
            raise TypeError
    except (TypeError, ValueError, ArithmeticError):
        return 'msg_value_invalid', {}
    if non_negative and duration < datetime.timedelta():
        return 'msg_value_negative', {}
    if abs(duration) > MAX_DURATION:
        return 'msg_duration_too_long', {
            'days': _format_number(MAX_DURATION.days)}


def _date_error(field, value):
    timestamp = isinstance(field, fields.Timestamp)
    type_ = datetime.datetime if timestamp else datetime.date
    if isinstance(value, str):
        try:
            value = type_.fromisoformat(value)
        except ValueError:
            return 'msg_value_invalid', {}
    # a datetime is a date but a Date field cannot store its time
    if (not isinstance(value, type_)
            or (not timestamp and isinstance(value, datetime.datetime))):
        return 'msg_value_invalid', {}
    date = value.date() if timestamp else value
    if not FIRST_DATE <= date <= LAST_DATE:
        pool = Pool()
        Lang = pool.get('ir.lang')
        lang = Lang.get()
        return 'msg_date_out_of_range', {
            'first': lang.strftime(FIRST_DATE),
            'last': lang.strftime(LAST_DATE),
            }


def _text_error(value, size):
    if not isinstance(value, str):
        return
    # PostgreSQL stores no NUL character; neither backend stores a lone
    # surrogate, which is no character of UTF-8
    try:
        value.encode('utf-8')
    except UnicodeEncodeError:
        return 'msg_text_invalid_character', {}
    if '\x00' in value:
        return 'msg_text_invalid_character', {}
    if size is not None and len(value) > size:
        return 'msg_text_too_long', {'size': _format_number(size)}


def _reference_error(value):
    "Check a reference given as 'model,id', (model, id) or a record"
    if isinstance(value, Model) or value == '':
        return
    elif isinstance(value, str):
        if error := _text_error(value, CHAR_SIZE):
            return error
        model, _, id_ = value.partition(',')
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        model, id_ = value
        if error := _text_error(model, CHAR_SIZE):
            return error
    else:
        return 'msg_value_invalid', {}
    try:
        Pool().get(model)
    except KeyError:
        return 'msg_value_invalid', {}
    return _id_error(id_)


def _id_error(value):
    "Check the id of a record"
    if isinstance(value, Model):
        value = value.id
    try:
        id_ = int(value)
        if not isinstance(value, str) and id_ != value:
            raise ValueError
    except (TypeError, ValueError, ArithmeticError):
        return 'msg_value_invalid', {}
    # ids are INTEGER columns
    limit = 2 ** (INTEGER_BITS['INTEGER'] - 1) - 1
    if not -limit <= id_ <= limit:
        return 'msg_value_invalid', {}


def _format_number(number):
    pool = Pool()
    Lang = pool.get('ir.lang')
    return Lang.get().format('%d', number, grouping=True)
