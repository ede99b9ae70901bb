# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Hostile input ends in a translated message or is stored safely.

Every stored number, date, duration, text, selection, reference and
relation field of the suite (found in ir.model.field by module, so that a
new field is covered without touching this test) gets hostile values
written as a client writes them: with access checks, as a user of every
group. The write must be refused with
the field's translated message before anything is stored, or, for a long
text, be stored as it was given."""
import datetime as dt
import re
import unittest
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from trytond import backend
from trytond.exceptions import UserError
from trytond.model import fields
from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import (
    create_company,
    create_employee,
    set_company,
)
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction, check_access

from trytond.modules.crm_lifecycle.common import workflow_writes
from trytond.modules.crm_service.sla_clock import BusinessClock

SUITE = ['crm_lifecycle', 'crm_projects', 'crm_service']
ADDONS = Path(__file__).resolve().parent.parent / 'addons'
SYSTEM_FIELDS = {'id', 'create_uid', 'create_date', 'write_uid', 'write_date'}
MEGABYTE = 'x' * 1_000_000
NAN, INFINITY = float('nan'), float('inf')
INVALID = 'msg_value_invalid'
NEGATIVE = 'msg_value_negative'
TOO_LARGE = 'msg_value_too_large'
INTEGER_RANGE = 'msg_integer_out_of_range'
DURATION = 'msg_duration_too_long'
DATE_RANGE = 'msg_date_out_of_range'
CHARACTER = 'msg_text_invalid_character'
TOO_LONG = 'msg_text_too_long'
STORED = None
TEXTS = {'char', 'text', 'selection', 'multiselection', 'reference'}
# Tracebacks that come before the guard, in code that runs before it; an
# entry that no longer fails must be removed
KNOWN_TRACEBACKS = {}
# Stored copies that the suite fills by SQL from documents whose own fields
# are tested here; no client writes them (no access to write)
DERIVED = {'crm.timeline', 'crm.party.figures'}


def hostile_values(field, non_negative):
    """Yield (value, expected message id) for the field; for a negative value
    of a non-negative field, the message id when the client writes it and
    when the suite's own code does (which may store negative amounts)"""
    type_ = field._type
    if type_ in {'float', 'numeric'}:
        number = Decimal if type_ == 'numeric' else float
        yield number('1e30'), TOO_LARGE
        yield number('-1e30'), (
            (NEGATIVE, TOO_LARGE) if non_negative else TOO_LARGE)
        yield number('NaN'), INVALID
        yield number('Infinity'), INVALID
        yield number('-Infinity'), INVALID
        yield 'not a number', INVALID
        if non_negative:
            yield number(-1), (NEGATIVE, STORED)
    elif type_ == 'integer':
        yield 2 ** 31, INTEGER_RANGE
        yield -2 ** 31, INTEGER_RANGE
        yield 1e30, INTEGER_RANGE
        yield NAN, INVALID
        yield INFINITY, INVALID
        yield -INFINITY, INVALID
        yield 1.5, INVALID
    elif type_ == 'timedelta':
        yield dt.timedelta(days=999_999_999), DURATION
        yield 1e30, INVALID
        yield NAN, INVALID
        yield INFINITY, INVALID
        yield -INFINITY, INVALID
        if non_negative:
            yield dt.timedelta(seconds=-1), (NEGATIVE, STORED)
    elif type_ == 'date':
        yield dt.date(1, 1, 1), DATE_RANGE
        yield dt.date(9999, 12, 31), DATE_RANGE
        yield dt.datetime(2025, 1, 1, 12), INVALID
        yield '2025-13-45', INVALID
    elif type_ in {'datetime', 'timestamp'}:
        yield dt.datetime(1, 1, 1), DATE_RANGE
        yield dt.datetime(9999, 12, 31, 23, 59, 59), DATE_RANGE
        yield dt.date(2025, 1, 1), INVALID
    elif type_ == 'time':
        yield '25:99', INVALID
    elif type_ == 'many2one':
        yield 'abc', INVALID
        yield 2 ** 31, INVALID
        yield 1.5, INVALID
        yield NAN, INVALID
    if type_ == 'reference':
        yield 'no comma', INVALID
        yield 'unknown.model,1', INVALID
        yield 'party.party,abc', INVALID
    elif type_ == 'multiselection':
        yield 'not a list', INVALID
    if type_ in TEXTS:
        wrap = (lambda v: [v]) if type_ == 'multiselection' else (lambda v: v)
        yield wrap('nul\x00byte'), CHARACTER
        yield wrap('lone \ud800 surrogate'), CHARACTER
        yield wrap(MEGABYTE), STORED if type_ == 'text' else TOO_LONG


@contextmanager
def savepoint():
    """Undo what a failed attempt did: on PostgreSQL an error aborts the
    transaction, and the attempts after it would fail too"""
    transaction = Transaction()
    if backend.name != 'postgresql':
        yield
        return
    cursor = transaction.connection.cursor()
    # python-sql has no SAVEPOINT
    cursor.execute('SAVEPOINT hostile_input')
    try:
        yield
    except Exception:
        cursor.execute('ROLLBACK TO SAVEPOINT hostile_input')
        for cache in transaction.cache.values():
            cache.clear()
        transaction.counter += 1
        raise
    cursor.execute('RELEASE SAVEPOINT hostile_input')


class HostileInputTestCase(unittest.TestCase):
    "Hostile values for every field of the suite"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module(SUITE)

    def suite_fields(self):
        "Return {model: [field name]} of the stored fields to test"
        pool = Pool()
        IrModelField = pool.get('ir.model.field')
        result = {}
        for record in IrModelField.search([
                    ('module', 'in', SUITE),
                    ], order=[('model', 'ASC'), ('name', 'ASC')]):
            try:
                Model = pool.get(record.model)
            except KeyError:
                continue
            field = Model._fields.get(record.name)
            if (field is None or record.name in SYSTEM_FIELDS
                    or not hasattr(Model, 'create')
                    or Model._is_table_query()
                    or record.model in DERIVED
                    or field._type not in self.checked_types
                    or isinstance(field, fields.Function)):
                continue
            result.setdefault(record.model, []).append(record.name)
        return result

    checked_types = {
        'float', 'numeric', 'integer', 'timedelta', 'date', 'datetime',
        'timestamp', 'time', 'many2one'} | TEXTS

    def build_records(self, company, employee):
        "Return {model: record} with one valid record per suite model"
        pool = Pool()
        Activity = pool.get('crm.activity')
        Agreement = pool.get('project.agreement')
        CrmConfiguration = pool.get('crm.configuration')
        LostReason = pool.get('crm.lost_reason')
        Milestone = pool.get('project.milestone')
        Opportunity = pool.get('sale.opportunity')
        Party = pool.get('party.party')
        AccountManager = pool.get('party.party.crm_account_manager')
        Protocol = pool.get('project.protocol')
        SLA = pool.get('service.sla')
        Sale = pool.get('sale.sale')
        ServiceConfiguration = pool.get('service.configuration')
        Team = pool.get('service.team')
        TeamEmployee = pool.get('service.team-company.employee')
        Ticket = pool.get('service.ticket')
        TimesheetLine = pool.get('timesheet.line')
        Work = pool.get('project.work')
        Contract = pool.get('service.contract')

        party = Party(name="Hostile Customer", addresses=[{}],
            contact_mechanisms=[{'type': 'email', 'value': 'h@example.com'}])
        party.save()
        project = Work(
            name="Project", type='project', company=company, party=party)
        project.save()
        milestone = Milestone(
            project=project, company=company, name="Milestone",
            amount_type='percentage', percentage=Decimal('0.5'))
        milestone.save()
        agreement = Agreement(project=project, name="Agreement")
        agreement.save()
        protocol = Protocol(project=project, title="Kick-off",
            action_items=[{'description': "Send the plan"}])
        protocol.save()
        activity = Activity(party=party, subject="Call")
        activity.save()
        reason = LostReason(name="Price")
        reason.save()
        crm_configuration = CrmConfiguration(1)
        crm_configuration.save()
        opportunity = Opportunity(party=party, description="Press")
        opportunity.save()
        sale = Sale(party=party, currency=company.currency)
        sale.save()
        sla = SLA(name="Office", targets=[{
                    'priority': 'normal',
                    'response_hours': 2,
                    'resolution_hours': 8,
                    }], hours=[{
                    'weekday': '0',
                    'start_time': dt.time(8),
                    'end_time': dt.time(17),
                    }], holidays=[{
                    'date': dt.date(2025, 12, 25),
                    'name': "Christmas",
                    }])
        sla.save()
        team = Team(name="Hotline", members=[employee])
        team.save()
        member, = TeamEmployee.search([('team', '=', team.id)])
        service_configuration = ServiceConfiguration(1)
        service_configuration.save()
        ticket = Ticket(party=party, title="Press stops", sla=sla)
        ticket.save()
        line = TimesheetLine(work=ticket.work, employee=employee,
            duration=dt.timedelta(hours=1))
        line.save()
        contract = Contract(party=party, start_date=dt.date(2025, 1, 1),
            end_date=dt.date(2025, 12, 31), hours=10)
        contract.save()
        inbox = pool.get('inbound.email.inbox')(name="Hotline", rules=[{
                    'action': 'service.ticket|from_inbound_email',
                    'company': company.id,
                    }])
        inbox.save()
        manager = AccountManager(
            party=party, company=company, crm_account_manager=employee)
        manager.save()
        cause = pool.get('sale.complaint.cause')(name="Transport Damage")
        cause.save()
        complained = Sale(party=party, currency=company.currency,
            invoice_address=party.addresses[0])
        complained.save()
        Sale.quote([complained])
        Sale.confirm([complained])
        complaint_type = pool.get('sale.complaint.type')(
            name="Sale", origin=pool.get('ir.model').search(
                [('name', '=', 'sale.sale')])[0])
        complaint_type.save()
        complaint = pool.get('sale.complaint')(
            customer=party, type=complaint_type, origin=complained)
        complaint.save()
        party = Party(party.id)
        return {
            'party.party.crm_account_manager': manager,
            'party.party': party,
            'crm.lifecycle.history': party.lifecycle_history[0],
            'crm.activity': activity,
            'crm.lost_reason': reason,
            'crm.configuration': crm_configuration,
            'sale.opportunity': opportunity,
            'sale.sale': sale,
            'project.work': project,
            'project.milestone': milestone,
            'project.agreement': agreement,
            'project.protocol': protocol,
            'project.protocol.action_item': protocol.action_items[0],
            'service.sla': sla,
            'service.sla.target': sla.targets[0],
            'service.sla.hours': sla.hours[0],
            'service.sla.holiday': sla.holidays[0],
            'service.team': team,
            'service.team-company.employee': member,
            'service.configuration': service_configuration,
            'service.ticket': ticket,
            'timesheet.line': line,
            'service.contract': contract,
            'inbound.email.rule': inbox.rules[0],
            'sale.complaint.cause': cause,
            'sale.complaint': complaint,
            }

    def create_client(self, company, employee):
        "Return a user of every group, as a client of each department"
        pool = Pool()
        Group = pool.get('res.group')
        User = pool.get('res.user')
        user = User(login='hostile', name="Hostile Client",
            groups=Group.search([]), companies=[company], company=company,
            employees=[employee], employee=employee)
        user.save()
        return user

    def assert_message(self, message, msg_id, Model, name):
        "Check that message is msg_id translated for the field of Model"
        pool = Pool()
        IrModel = pool.get('ir.model')
        IrModelField = pool.get('ir.model.field')
        Message = pool.get('ir.message')
        language = Transaction().language
        template = Message.gettext('crm_lifecycle', msg_id, language)
        names = {
            'field': re.escape(IrModelField.get_name(Model.__name__, name)),
            'model': re.escape(IrModel.get_name(Model.__name__)),
            }
        pattern = re.sub(
            r'%\\\((\w+)\\\)s',
            lambda m: names.get(m.group(1), '.+'),
            re.escape(template))
        self.assertRegex(message, f'^{pattern}$')

    def write_as_client(self, record, values):
        """Write values on record as the client; when the client may not
        write them, it is refused as such and they are written as the
        suite's own code writes them: as a workflow, then without access
        checks (the stage history). self.by_client tells which wrote."""
        Model = record.__class__
        self.by_client = True
        with check_access():
            try:
                Model.write([Model(record.id)], values)
                return
            except AccessError:
                self.by_client = False
            with workflow_writes():
                try:
                    Model.write([Model(record.id)], values)
                    return
                except AccessError:
                    pass
        with workflow_writes():
            Model.write([Model(record.id)], values)

    @with_transaction()
    def test_hostile_values(self):
        "Every suite field refuses hostile values with its message"
        pool = Pool()
        company = create_company()
        with set_company(company):
            employee = create_employee(company)
            records = self.build_records(company, employee)
            user = self.create_client(company, employee)
            failures, known = [], set()
            count = 0
            for model, names in self.suite_fields().items():
                Model = pool.get(model)
                if model not in records:
                    failures.append(f"{model}: no record to test "
                        f"{', '.join(names)}")
                    continue
                record = records[model]
                signed = Model._signed_fields()
                original = Model.read([record.id], names)[0]
                for name in names:
                    field = Model._fields[name]
                    non_negative = (
                        field._type in {'float', 'numeric', 'timedelta'}
                        and name not in signed)
                    for value, msg_id in hostile_values(field, non_negative):
                        count += 1
                        failure = self.attempt(
                            user, record, name, value, msg_id, original)
                        if (failure and failure.startswith('traceback')
                                and (model, name) in KNOWN_TRACEBACKS):
                            known.add((model, name))
                        elif failure:
                            failures.append(
                                f"{model}.{name} = {value!r:.40}: {failure}")
            self.assertGreater(count, 100)
            for key in KNOWN_TRACEBACKS.keys() - known:
                failures.append(f"{key} is fixed: remove it from "
                    "KNOWN_TRACEBACKS")
            self.assertEqual(failures, [], '\n'.join(failures))

    def attempt(self, user, record, name, value, msg_id, original):
        "Write value as the client, return what went wrong or None"
        Model = record.__class__
        try:
            with savepoint(), Transaction().set_user(user.id):
                self.write_as_client(record, {name: value})
        except UserError as error:
            if isinstance(msg_id, tuple):
                msg_id = msg_id[0 if self.by_client else 1]
            if msg_id is STORED:
                return f"refused: {error.message}"
            try:
                self.assert_message(error.message, msg_id, Model, name)
            except AssertionError:
                return f"expected {msg_id}, got: {error.message}"
        except Exception as error:
            return f"traceback: {error.__class__.__name__}: {error}"[:300]
        else:
            if isinstance(msg_id, tuple):
                msg_id = msg_id[0 if self.by_client else 1]
            stored = Model.read([record.id], [name])[0][name]
            self.restore(record, name, original)
            if msg_id is not STORED:
                return f"stored instead of {msg_id}"
            if stored != value:
                return "not stored as given"
            return
        current = Model.read([record.id], [name])[0][name]
        if current != original[name]:
            self.restore(record, name, original)
            return f"changed to {current!r:.40}"

    def restore(self, record, name, original):
        Model = record.__class__
        with workflow_writes():
            Model.write([Model(record.id)], {name: original[name]})

    @with_transaction()
    def test_upstream_fields(self):
        "On upstream models only the suite's fields are checked"
        pool = Pool()
        Activity = pool.get('crm.activity')
        Party = pool.get('party.party')
        Work = pool.get('project.work')
        self.assertLessEqual(
            {'first_contact_date', 'lifecycle_since', 'crm_channel',
                'service_sla'}, Party._safe_value_fields)
        self.assertFalse(
            {'name', 'code', 'lang'} & Party._safe_value_fields)
        self.assertIn('budget_alerts', Work._safe_value_fields)
        self.assertFalse({'name', 'effort_duration'} & Work._safe_value_fields)
        # a field that crm_service adds to a model of crm_lifecycle
        self.assertIn('service_message_id', Activity._safe_value_fields)

    @with_transaction()
    def test_create_refused(self):
        "A record created with a hostile value is not stored"
        pool = Pool()
        Milestone = pool.get('project.milestone')
        Ticket = pool.get('service.ticket')
        company = create_company()
        with set_company(company):
            employee = create_employee(company)
            records = self.build_records(company, employee)
            user = self.create_client(company, employee)
            milestone = records['project.milestone']
            ticket = records['service.ticket']
            counts = (Milestone.search([], count=True),
                Ticket.search([], count=True))
            with Transaction().set_user(user.id), check_access():
                with self.assertRaises(UserError) as cm:
                    Milestone.create([{
                                'project': milestone.project.id,
                                'name': "Huge",
                                'amount_type': 'fixed',
                                'fixed_amount': Decimal('1e30'),
                                }])
                self.assert_message(
                    cm.exception.message, TOO_LARGE, Milestone,
                    'fixed_amount')
                with self.assertRaises(UserError) as cm:
                    Ticket.create([{
                                'party': ticket.party.id,
                                'title': "From the future",
                                'reported_date': dt.datetime(9999, 12, 31),
                                }])
                self.assert_message(
                    cm.exception.message, DATE_RANGE, Ticket,
                    'reported_date')
            self.assertEqual(counts, (Milestone.search([], count=True),
                    Ticket.search([], count=True)))

    @with_transaction()
    def test_message_in_german(self):
        "The message is in the client's language"
        pool = Pool()
        Lang = pool.get('ir.lang')
        Milestone = pool.get('project.milestone')
        Translation = pool.get('ir.translation')
        german, = Lang.search([('code', '=', 'de')])
        german.translatable = True
        german.save()
        for module in SUITE:
            Translation.translation_import(
                'de', module, str(ADDONS / module / 'locale' / 'de.po'))
        company = create_company()
        with set_company(company):
            employee = create_employee(company)
            records = self.build_records(company, employee)
            user = self.create_client(company, employee)
            milestone = records['project.milestone']
            with Transaction().set_user(user.id), check_access(), \
                    Transaction().set_context(language='de'):
                with self.assertRaises(UserError) as cm:
                    Milestone.write(
                        [milestone], {'percentage': Decimal('NaN')})
                self.assert_message(
                    cm.exception.message, INVALID, Milestone, 'percentage')
                self.assertTrue(
                    cm.exception.message.startswith("Um den Datensatz"),
                    cm.exception.message)
                self.assertIn("„Prozentsatz“", cm.exception.message)

    @unittest.skipIf(backend.name != 'postgresql', "NUL is a PostgreSQL case")
    @with_transaction()
    def test_nul_on_postgresql(self):
        "PostgreSQL stores no NUL: the guard refuses it first"
        pool = Pool()
        Ticket = pool.get('service.ticket')
        company = create_company()
        with set_company(company):
            employee = create_employee(company)
            ticket = self.build_records(company, employee)['service.ticket']
            with self.assertRaises(UserError):
                Ticket.write([ticket], {'description': "a\x00b"})
            # the transaction is still usable: nothing reached the database
            self.assertEqual(Ticket(ticket.id).description, None)


class SLAClockBoundsTestCase(unittest.TestCase):
    "The SLA clock does not overflow at the ends of the calendar"

    def clock(self, timezone):
        schedule = [(d, dt.time(8), dt.time(17)) for d in range(7)]
        return BusinessClock(schedule, timezone=timezone)

    def test_ends_of_calendar(self):
        hour = dt.timedelta(hours=1)
        for timezone in ['UTC', 'Pacific/Kiritimati', 'Pacific/Pago_Pago']:
            clock = self.clock(timezone)
            with self.subTest(timezone=timezone):
                self.assertIsNone(
                    clock.deadline(dt.datetime(9999, 12, 31, 20), 10 * hour))
                self.assertIsNotNone(
                    clock.deadline(dt.datetime(1, 1, 1), 10 * hour))
                self.assertGreater(clock.elapsed(
                        dt.datetime(1, 1, 1), dt.datetime(1, 1, 3)),
                    dt.timedelta())
                self.assertGreater(clock.elapsed(
                        dt.datetime(9999, 12, 29), dt.datetime.max),
                    dt.timedelta())
                self.assertEqual(
                    clock.deadline(dt.datetime.max, dt.timedelta()),
                    dt.datetime.max)
