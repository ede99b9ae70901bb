# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt
import unittest
from contextlib import ExitStack
from decimal import Decimal
from unittest.mock import patch
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st
from trytond import backend
from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model.exceptions import AccessError
from trytond.model.modelsql import SQLConstraintError
from trytond.model.modelview import AccessButtonError
from trytond.modules.account.tests import create_chart, get_fiscalyear
from trytond.modules.account_invoice.tests import set_invoice_sequences
from trytond.modules.company.tests import (
    CompanyTestMixin,
    create_company,
    create_employee,
    set_company,
)
from trytond.modules.party.tests import PartyCheckReplaceMixin
from trytond.pool import Pool
from trytond.pyson import PYSONDecoder
from trytond.tests.test_tryton import (
    ModuleTestCase,
    activate_module,
    with_transaction,
)
from trytond.transaction import Transaction, check_access

from trytond.modules.crm_lifecycle.common import workflow_writes
from trytond.modules.crm_lifecycle.tests.tools import (
    QueueTestMixin,
    WebClientViewMixin,
    count_queries,
    queue_worker,
    table_accesses,
)
from trytond.modules.crm_service.sla_clock import BusinessClock, elapsed
from trytond.modules.crm_service.ticket import html_to_text

H = dt.timedelta(hours=1)
# Monday to Friday, 08:00-12:00 and 13:00-17:00
OFFICE = [(d, dt.time(s), dt.time(e))
    for d in range(5) for s, e in [(8, 12), (13, 17)]]
BERLIN = 'Europe/Berlin'
UTC = dt.UTC


def utc(*args, tz=BERLIN):
    "Return the naive UTC datetime of the local time args in tz"
    local = dt.datetime(*args, tzinfo=ZoneInfo(tz))
    return local.astimezone(UTC).replace(tzinfo=None)


class SLAClockTestCase(unittest.TestCase):
    "Test the business-hours clock"

    def clock(self, schedule=OFFICE, holidays=(), tz=BERLIN):
        return BusinessClock(schedule, holidays, tz)

    def test_within_day(self):
        clock = self.clock()
        # Monday 2025-03-03 09:00 + 2 h = 11:00
        self.assertEqual(
            clock.deadline(utc(2025, 3, 3, 9), 2 * H), utc(2025, 3, 3, 11))
        # the lunch break does not count
        self.assertEqual(
            clock.deadline(utc(2025, 3, 3, 11), 2 * H), utc(2025, 3, 3, 14))

    def test_evening(self):
        clock = self.clock()
        # reported Monday 16:00, 4 h → Tuesday 11:00
        self.assertEqual(
            clock.deadline(utc(2025, 3, 3, 16), 4 * H), utc(2025, 3, 4, 11))
        # reported in the evening: the clock starts next morning
        self.assertEqual(
            clock.deadline(utc(2025, 3, 3, 20), 1 * H), utc(2025, 3, 4, 9))
        self.assertEqual(
            clock.elapsed(utc(2025, 3, 3, 16), utc(2025, 3, 4, 9)), 2 * H)

    def test_weekend(self):
        clock = self.clock()
        # Friday 2025-03-07 16:00 + 2 h → Monday 10:00
        self.assertEqual(
            clock.deadline(utc(2025, 3, 7, 16), 2 * H), utc(2025, 3, 10, 9))
        self.assertEqual(
            clock.elapsed(utc(2025, 3, 7, 16), utc(2025, 3, 10, 9)), 2 * H)
        # reported on Saturday
        self.assertEqual(
            clock.deadline(utc(2025, 3, 8, 10), 30 * dt.timedelta(
                    minutes=1)),
            utc(2025, 3, 10, 8, 30))

    def test_holiday(self):
        # Friday 2025-04-18 (Good Friday) and Monday 2025-04-21 off
        clock = self.clock(
            holidays=[dt.date(2025, 4, 18), dt.date(2025, 4, 21)])
        self.assertEqual(
            clock.deadline(utc(2025, 4, 17, 16), 2 * H),
            utc(2025, 4, 22, 9))
        self.assertEqual(
            clock.elapsed(utc(2025, 4, 17, 0), utc(2025, 4, 23, 0)), 16 * H)

    def test_dst_spring(self):
        # Berlin moves from UTC+1 to UTC+2 on Sunday 2025-03-30
        clock = self.clock()
        start = utc(2025, 3, 28, 16)
        self.assertEqual(start, dt.datetime(2025, 3, 28, 15))
        end = clock.deadline(start, 2 * H)
        self.assertEqual(end, utc(2025, 3, 31, 9))
        self.assertEqual(end, dt.datetime(2025, 3, 31, 7))
        self.assertEqual(clock.elapsed(start, end), 2 * H)

    def test_dst_autumn(self):
        # Berlin moves from UTC+2 to UTC+1 on Sunday 2025-10-26
        clock = self.clock()
        start = utc(2025, 10, 24, 16)
        end = clock.deadline(start, 2 * H)
        self.assertEqual(end, dt.datetime(2025, 10, 27, 8))
        # a 24/7 schedule counts the real hours of the 25-hour day
        always = self.clock(
            schedule=[(d, dt.time(0), dt.time(0)) for d in range(7)])
        self.assertEqual(
            always.elapsed(utc(2025, 10, 26, 0), utc(2025, 10, 27, 0)),
            dt.timedelta(hours=25))
        self.assertEqual(
            always.deadline(utc(2025, 10, 25, 12), 24 * H),
            utc(2025, 10, 26, 11))

    def test_pause(self):
        # waiting on Monday 10:00-14:00 does not count
        total = elapsed(
            utc(2025, 3, 3, 8), utc(2025, 3, 3, 17), OFFICE, (), BERLIN,
            pauses=[(utc(2025, 3, 3, 10), utc(2025, 3, 3, 14))])
        self.assertEqual(total, 5 * H)

    def test_no_business_hours(self):
        clock = self.clock(schedule=[])
        self.assertIsNone(clock.deadline(utc(2025, 3, 3, 9), H))
        self.assertEqual(
            clock.elapsed(utc(2025, 3, 3, 9), utc(2025, 3, 4, 9)),
            dt.timedelta())

    def test_zero_duration(self):
        clock = self.clock()
        start = utc(2025, 3, 8, 10)
        self.assertEqual(clock.deadline(start, dt.timedelta()), start)


def reference_is_business(minute, schedule, holidays, tz):
    local = minute.replace(tzinfo=UTC).astimezone(ZoneInfo(tz))
    if local.date() in holidays:
        return False
    time = local.time().replace(tzinfo=None)
    return any(w == local.weekday() and s <= time < e
        for w, s, e in schedule)


@st.composite
def schedules(draw):
    schedule = []
    for weekday in draw(st.sets(st.integers(0, 6), min_size=1)):
        # business hours between 06:00 and 22:00 avoid the DST gap
        start = draw(st.integers(6 * 4, 20 * 4))
        end = draw(st.integers(start + 1, 22 * 4))
        schedule.append((weekday,
                dt.time(start // 4, start % 4 * 15),
                dt.time(end // 4, end % 4 * 15)))
    return schedule


class SLAClockPropertyTestCase(unittest.TestCase):
    "Compare the clock with a minute-by-minute reference"

    @settings(max_examples=50, deadline=None)
    @given(
        schedule=schedules(),
        holiday_offsets=st.sets(st.integers(0, 6), max_size=2),
        start_minutes=st.integers(0, 6 * 24 * 60),
        minutes=st.integers(1, 12 * 60),
        tz=st.sampled_from([BERLIN, 'UTC', 'America/New_York']))
    def test_against_reference(
            self, schedule, holiday_offsets, start_minutes, minutes, tz):
        # the week of the spring DST change in Europe and the USA
        origin = dt.datetime(2025, 3, 27)
        holidays = {
            origin.date() + dt.timedelta(days=d) for d in holiday_offsets}
        clock = BusinessClock(schedule, holidays, tz)
        start = origin + dt.timedelta(minutes=start_minutes)
        end = start + dt.timedelta(minutes=minutes)

        expected = dt.timedelta()
        minute = start
        while minute < end:
            if reference_is_business(minute, schedule, holidays, tz):
                expected += dt.timedelta(minutes=1)
            minute += dt.timedelta(minutes=1)
        self.assertEqual(clock.elapsed(start, end), expected)

        if expected:
            deadline = clock.deadline(start, expected)
            # the deadline is the end of the last business minute
            last = end - dt.timedelta(minutes=1)
            while not reference_is_business(last, schedule, holidays, tz):
                last -= dt.timedelta(minutes=1)
            self.assertEqual(deadline, last + dt.timedelta(minutes=1))
            self.assertEqual(clock.elapsed(start, deadline), expected)


class HTMLTextTestCase(unittest.TestCase):
    "Test the HTML to text conversion of e-mails"

    def test_script_removed(self):
        text = html_to_text(
            '<html><head><script>alert(1)</script></head>'
            '<body><p>Printer <b>broken</b></p>'
            '<script type="text/javascript">steal()</script>'
            '<p>Call me &amp; soon</p></body></html>')
        self.assertEqual(text, 'Printer broken\n\nCall me & soon')
        self.assertNotIn('alert', text)
        self.assertNotIn('steal', text)


class CrmServiceTestCase(
        QueueTestMixin, WebClientViewMixin, PartyCheckReplaceMixin,
        CompanyTestMixin, ModuleTestCase):
    "Test CRM Service module"
    module = 'crm_service'

    @property
    def _skip_company_rule(self):
        # crm_lifecycle's timeline also shows rows without company
        return super()._skip_company_rule | {('crm.timeline', 'company')}

    @with_transaction()
    def test_ticket_access(self):
        "CRM users read tickets, only service users change them"
        pool = Pool()
        Ticket = pool.get('service.ticket')
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        company = create_company()
        with set_company(company):
            ticket = Ticket(title="Printer jams")
            ticket.save()
            users = {}
            for login, group in [
                    ('sales', 'group_crm_sales'),
                    ('service', 'group_crm_service')]:
                users[login] = User(
                    login=login, name=login,
                    groups=[ModelData.get_id('crm_lifecycle', group)],
                    companies=[company], company=company)
            outsider = User(login='outsider', name="Outsider")
            User.save([*users.values(), outsider])

            with Transaction().set_user(users['sales'].id), check_access():
                self.assertEqual(Ticket.search([]), [ticket])
                with self.assertRaises(AccessError):
                    Ticket.write([ticket], {'title': "Paper jams"})
                with self.assertRaises(AccessError):
                    Ticket.create([{'title': "New"}])
            with Transaction().set_user(users['service'].id), check_access():
                Ticket.write([ticket], {'title': "Paper jams"})
                ticket, = Ticket.search([])
                self.assertEqual(ticket.title, "Paper jams")
                # without timesheet or sales rights of their own
                new, = Ticket.create([{'title': "New"}])
                self.assertTrue(new.work)
                Ticket.hand_over([new])
                self.assertEqual(new.opportunity.crm_channel, 'service')
            with Transaction().set_user(outsider.id), check_access():
                with self.assertRaises(AccessError):
                    Ticket.search([])

    def _create_tickets(self, count, **values):
        "Create count tickets in one call"
        pool = Pool()
        Ticket = pool.get('service.ticket')
        now = dt.datetime.now().replace(microsecond=0)
        return Ticket.create([{
                    'title': "Printer jams",
                    'reported_date': now,
                    **values,
                    } for i in range(count)])

    def _long_sla(self, response_hours=100, resolution_hours=400):
        "Return a round-the-clock SLA with the targets of normal priority"
        pool = Pool()
        SLA = pool.get('service.sla')
        sla = SLA(name="24/7", targets=[{
                    'priority': 'normal',
                    'response_hours': response_hours,
                    'resolution_hours': resolution_hours,
                    }], hours=[{
                    'weekday': str(d),
                    'start_time': dt.time(),
                    'end_time': dt.time(),
                    } for d in range(7)])
        sla.save()
        return sla

    def _escalating_hotline(self, company):
        """Return the lead (with an e-mail address), the team and an SLA
        of 1 hour to respond and 4 to resolve, round the clock"""
        pool = Pool()
        Team = pool.get('service.team')
        ContactMechanism = pool.get('party.contact_mechanism')
        lead = create_employee(company, "Leo")
        ContactMechanism.create([{
                    'party': lead.party.id,
                    'type': 'email',
                    'value': 'leo@example.com',
                    }])
        team = Team(name="Hotline", lead=lead)
        team.save()
        return lead, team, self._long_sla(
            response_hours=1, resolution_hours=4)

    def _count(self, function):
        "Return the number of queries of function, once its caches are warm"
        function()
        return self._count_once(function)

    def _count_once(self, function):
        """Return the number of queries of one call of function

        SQLite has no multi-row insert with ids: trytond inserts the new
        records one by one there, so inserts are not counted on it."""
        with count_queries() as queries:
            function()
        if backend.name == 'sqlite':
            queries = [q for q in queries
                if not str(q).lstrip().upper().startswith('INSERT')]
        return len(queries)

    @with_transaction()
    def test_escalate_query_count(self):
        "The escalation job costs the same for 10 or 1000 escalated tickets"
        pool = Pool()
        Ticket = pool.get('service.ticket')
        Activity = pool.get('crm.activity')
        Team = pool.get('service.team')
        company = create_company()
        with set_company(company):
            lead = create_employee(company, "Leo")
            team = Team(name="Hotline", lead=lead)
            team.save()
            sla = self._long_sla(response_hours=1, resolution_hours=4)
            now = dt.datetime.now().replace(microsecond=0)

            def escalate(count):
                "Escalate count on-track tickets whose targets passed"
                tickets = self._create_tickets(
                    count, sla=sla.id, team=team.id)
                self.assertEqual(
                    {t.sla_state for t in tickets}, {'on_track'})
                with patch.object(
                        Ticket, '_now', return_value=now + 5 * H):
                    queries = self._count_once(Ticket.escalate)
                tickets = Ticket.browse(tickets)
                self.assertEqual(
                    {(t.sla_state, t.escalation) for t in tickets},
                    {('breached', 'breached')})
                self.assertEqual(Activity.search([
                            ('resource', 'in', [str(t) for t in tickets]),
                            ('service_system', '=', True),
                            ('employee', '=', lead.id),
                            ('state', '=', 'planned'),
                            ], count=True), count)
                return queries

            escalate(1)  # warm the caches
            small = escalate(10)
            large = escalate(1000)
            if backend.name == 'sqlite':
                # SQLite takes at most 200 parameters a query: the read of
                # the 1,000 tickets and the refresh of their and their
                # activities' timeline rows go in slices of 200, not per
                # ticket
                self.assertLessEqual(
                    large, small + 2 * 1000 // backend.MAX_QUERY_PARAMS)
            else:
                self.assertEqual(large, small)

    @with_transaction()
    def test_queue_query_count(self):
        "The ticket queue ordered by deadline costs the same for 10 or 1000"
        pool = Pool()
        Ticket = pool.get('service.ticket')
        Party = pool.get('party.party')
        Team = pool.get('service.team')
        company = create_company()
        with set_company(company):
            sla = self._long_sla()
            party = Party(name="ACME")
            party.save()
            team = Team(name="Hotline")
            team.save()
            fnames = [
                'number', 'reported_date', 'party', 'party.rec_name',
                'title', 'kind', 'channel', 'priority', 'team',
                'team.rec_name', 'assignee', 'response_deadline',
                'resolution_deadline', 'sla_state', 'state']

            def queue():
                tickets = Ticket.search([
                        ('state', 'in', Ticket._open_states()),
                        ], order=[('resolution_deadline', 'ASC')], limit=50)
                rows = Ticket.read([t.id for t in tickets], fnames)
                self.assertTrue(rows)

            values = dict(sla=sla.id, party=party.id, team=team.id)
            self._create_tickets(10, **values)
            small = self._count(queue)
            self._create_tickets(990, **values)
            large = self._count(queue)
            self.assertEqual(large, small)

    @with_transaction()
    def test_escalation(self):
        "Escalation plans one activity and sends one e-mail per level"
        pool = Pool()
        Ticket = pool.get('service.ticket')
        Activity = pool.get('crm.activity')
        company = create_company()
        with set_company(company):
            lead, team, sla = self._escalating_hotline(company)
            now = dt.datetime.now().replace(microsecond=0)
            ticket = Ticket(
                title="Down", team=team, sla=sla,
                reported_date=now - 2 * H)
            ticket.save()
            self.assertEqual(ticket.response_deadline, now - H)
            self.assertEqual(ticket.sla_state, 'breached')

            target = 'trytond.modules.crm_service.ticket.' \
                'send_message_transactional'
            with patch(target) as send:
                Ticket.escalate()
                Ticket.escalate()
            self.assertEqual(send.call_count, 1)
            self.assertEqual(send.call_args[0][0]['To'], 'leo@example.com')
            activity, = Activity.search([
                    ('resource', '=', str(ticket)),
                    ])
            self.assertEqual(activity.employee, lead)
            self.assertEqual(activity.state, 'planned')
            ticket = Ticket(ticket.id)
            self.assertEqual(ticket.escalation, 'breached')

    @with_transaction()
    def test_pause_shifts_deadline(self):
        "Waiting shifts the resolution deadline by the business time paused"
        pool = Pool()
        Ticket = pool.get('service.ticket')
        SLA = pool.get('service.sla')
        company = create_company()
        with set_company(company):
            sla = SLA(name="Office", timezone=BERLIN, targets=[{
                        'priority': 'normal',
                        'response_hours': 2,
                        'resolution_hours': 8,
                        }], hours=[{
                        'weekday': str(w),
                        'start_time': s,
                        'end_time': e,
                        } for w, s, e in OFFICE])
            sla.save()
            # Friday 2025-03-07 15:00 in Berlin
            reported = utc(2025, 3, 7, 15)
            ticket = Ticket(title="Slow", sla=sla, reported_date=reported)
            ticket.save()
            self.assertEqual(ticket.response_deadline, utc(2025, 3, 7, 17))
            self.assertEqual(ticket.resolution_deadline, utc(2025, 3, 10, 15))
            self.assertEqual(ticket.sla_state, 'breached')

            def at(*args):
                return patch.object(Ticket, '_now', return_value=utc(*args))

            with at(2025, 3, 7, 15, 30):
                Ticket.open([ticket])
            # waiting since Friday 16:00: 1 h on Friday
            with at(2025, 3, 7, 16):
                Ticket.wait([ticket])
            with at(2025, 3, 10, 9, 30):
                Ticket.open([ticket])
            ticket = Ticket(ticket.id)
            # 1 h on Friday and 1.5 h on Monday morning
            self.assertEqual(ticket.paused_duration, dt.timedelta(
                    hours=2, minutes=30))
            self.assertEqual(
                ticket.resolution_deadline, utc(2025, 3, 11, 8, 30))
            # no response yet: the response clock was paused too
            self.assertEqual(ticket.response_paused_duration, dt.timedelta(
                    hours=2, minutes=30))
            self.assertEqual(
                ticket.response_deadline, utc(2025, 3, 10, 10, 30))
            self.assertEqual(
                ticket.response_risk_date, utc(2025, 3, 10, 10))

            # waiting after the response shifts the resolution only
            with at(2025, 3, 10, 10):
                Ticket.respond([ticket])
            with at(2025, 3, 10, 11):
                Ticket.wait([ticket])
            with at(2025, 3, 10, 12):
                Ticket.open([ticket])
            ticket = Ticket(ticket.id)
            self.assertEqual(ticket.first_response_date, utc(2025, 3, 10, 10))
            self.assertEqual(
                ticket.response_deadline, utc(2025, 3, 10, 10, 30))
            self.assertEqual(
                ticket.resolution_deadline, utc(2025, 3, 11, 9, 30))


            # a deleted ticket takes its timesheet work with it
            Work = pool.get('timesheet.work')
            mistake, = Ticket.create([{'title': "Mistake"}])
            work_id = mistake.work.id
            Ticket.delete([mistake])
            self.assertEqual(Work.search([('id', '=', work_id)]), [])

    @with_transaction()
    def test_ticket_defaults_employee(self):
        "A ticket recorded by an employee is theirs and their team's"
        pool = Pool()
        Ticket = pool.get('service.ticket')
        Team = pool.get('service.team')
        company = create_company()
        with set_company(company):
            emma = create_employee(company, "Emma")
            hotline = Team(name="Hotline", members=[emma])
            field = Team(name="Field")
            Team.save([hotline, field])
            with Transaction().set_context(employee=emma.id):
                ticket, = Ticket.create([{'title': "Noise"}])
                self.assertEqual(
                    (ticket.assignee, ticket.team), (emma, hotline))

                # two teams: the user picks one
                field.members = [emma]
                field.save()
                ticket, = Ticket.create([{'title': "Leak"}])
                self.assertEqual((ticket.assignee, ticket.team), (emma, None))

                # e-mail intake leaves the ticket to the desk
                ticket = Ticket.from_inbound_email(
                    self._email("Pump broken", '<c@x>'), None)
                self.assertEqual((ticket.assignee, ticket.team), (None, None))

            ticket, = Ticket.create([{'title': "Smoke"}])
            self.assertEqual((ticket.assignee, ticket.team), (None, None))

    @staticmethod
    def _email(subject, message_id):
        "An inbound e-mail as inbound_email gives it to the rule's action"
        class Email:
            rec_name = 'email'

            def as_dict(self):
                return {
                    'from': 'someone@example.com',
                    'subject': subject,
                    'text': "Hello",
                    'headers': {'Message-ID': message_id},
                    }
        return Email()

    @with_transaction()
    def test_reply_other_company(self):
        "A reply to another company's ticket becomes a new ticket"
        pool = Pool()
        Ticket = pool.get('service.ticket')
        Activity = pool.get('crm.activity')
        company = create_company()
        other = create_company(name="Other")
        with set_company(company):
            # the sender's own ticket: only its senders may post into it
            ticket = Ticket(
                title="Printer jams", email_from='someone@example.com')
            ticket.save()
        Email = self._email

        subject = f"Re: [{ticket.number}] Printer jams"
        with set_company(other):
            result = Ticket.from_inbound_email(Email(subject, '<a@x>'), None)
            self.assertIsInstance(result, Ticket)
            self.assertEqual(result.company, other)
            self.assertIsNone(result.party)
            self.assertEqual(result.email_from, 'someone@example.com')
        with set_company(company):
            result = Ticket.from_inbound_email(Email(subject, '<b@x>'), None)
            self.assertIsInstance(result, Activity)
            self.assertEqual(result.resource, ticket)
            # the same message again is recorded once
            self.assertEqual(
                Ticket.from_inbound_email(Email(subject, '<b@x>'), None),
                result)


    def _create_user(self, company, login, department):
        "Create a user of the company in the department with an employee"
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        User = pool.get('res.user')
        employee = create_employee(company, login.title())
        user = User(
            login=login, name=login,
            groups=[ModelData.get_id(
                    'crm_lifecycle', f'group_crm_{department}')],
            companies=[company], company=company,
            employees=[employee], employee=employee)
        user.save()
        return user

    def _as_user(self, user):
        "Enter the context of user's calls from a client"
        transaction = Transaction()
        stack = ExitStack()
        stack.enter_context(transaction.set_user(user.id))
        stack.enter_context(transaction.set_context(
                company=user.company.id, employee=user.employee.id))
        stack.enter_context(check_access())
        return stack

    def _setup_invoicing(self, company):
        "Create the chart and the service product of the configuration"
        pool = Pool()
        Account = pool.get('account.account')
        Category = pool.get('product.category')
        Configuration = pool.get('service.configuration')
        FiscalYear = pool.get('account.fiscalyear')
        ModelData = pool.get('ir.model.data')
        Template = pool.get('product.template')
        Uom = pool.get('product.uom')
        create_chart(company)
        fiscalyear = set_invoice_sequences(get_fiscalyear(company))
        fiscalyear.save()
        FiscalYear.create_period([fiscalyear])
        revenue, = Account.search([
                ('type.revenue', '=', True),
                ('closed', '!=', True),
                ('company', '=', company.id),
                ], limit=1)
        category = Category(
            name="Services", accounting=True, account_revenue=revenue)
        category.save()
        template = Template(
            name="Support Hour", type='service', list_price=Decimal(80),
            default_uom=Uom(ModelData.get_id('product', 'uom_hour')),
            account_category=category, products=[{}])
        template.save()
        product, = template.products
        configuration = Configuration(1)
        configuration.service_product = product
        configuration.save()
        return product

    def assertRefused(self, message, function, *args, **kwargs):
        "Assert that function raises an AccessError with message"
        with self.assertRaises(AccessError) as cm:
            function(*args, **kwargs)
        if message is not None:
            self.assertEqual(cm.exception.message, message)

    @with_transaction()
    def test_ticket_forgery(self):
        "No client creates, writes or copies the workflow of a ticket"
        pool = Pool()
        Ticket = pool.get('service.ticket')
        Party = pool.get('party.party')
        company = create_company()
        with set_company(company):
            service = self._create_user(company, 'service', 'service')
            sales = self._create_user(company, 'sales', 'sales')
            sla = self._long_sla(response_hours=1, resolution_hours=4)
            party = Party(name="ACME")
            party.save()
            employee = service.employee
            now = dt.datetime.now().replace(microsecond=0)
            ticket, = Ticket.create([{
                        'title': "Down", 'party': party.id, 'sla': sla.id,
                        'reported_date': now - 2 * H,
                        }])
            Ticket.open([ticket])
            self.assertEqual(ticket.sla_state, 'breached')
            forged = {
                'state': 'closed',
                'number': 'T99999',
                'message_id': '<forged@example.com>',
                'sla_state': 'on_track',
                'escalation': 'breached',
                'response_deadline': now + 100 * H,
                'resolution_deadline': now + 100 * H,
                'response_risk_date': now + 90 * H,
                'resolution_risk_date': now + 90 * H,
                'first_response_date': now - 2 * H,
                'paused_duration': 10 * H,
                'response_paused_duration': 10 * H,
                'paused_since': now,
                'opened_by': employee.id,
                'opened_date': now,
                'waiting_by': employee.id,
                'waiting_date': now,
                'resolved_by': employee.id,
                'resolved_date': now,
                'closed_by': employee.id,
                'closed_date': now,
                'cancelled_by': employee.id,
                'cancelled_date': now,
                'complaint': 1,
                'opportunity': 1,
                'work': ticket.work.id,
                }
            self.assertEqual(
                set(forged), Ticket._workflow_fields())
            new_only = {
                'sla': None,
                'reported_date': now - 100 * H,
                'company': create_company(name="Other").id,
                }
            fnames = sorted(set(forged) | set(new_only))
            before = Ticket.read([ticket.id], fnames)
            count = Ticket.search([], count=True)

            for user in [service, sales]:
                with self._as_user(user):
                    for fname, value in forged.items():
                        message = gettext(
                            'crm_lifecycle.msg_workflow_field',
                            field=Ticket.__names__(fname)['field'],
                            model=Ticket.__names__()['model'])
                        if user == sales:
                            message = None  # no write access at all
                        with self.subTest(user=user.login, field=fname):
                            self.assertRefused(
                                message, Ticket.create, [{
                                        'title': "Forged",
                                        fname: value,
                                        }])
                            self.assertRefused(
                                message, Ticket.write, [ticket],
                                {fname: value})
                            self.assertRefused(
                                message, Ticket.copy, [ticket],
                                default={fname: value})
                        if fname == 'work':
                            with self.subTest(user=user.login, field=fname):
                                self.assertRefused(
                                    message, Ticket.write, [ticket],
                                    {fname: None})
                    for fname, value in new_only.items():
                        message = gettext(
                            'crm_service.msg_ticket_new_only_field',
                            field=Ticket.__names__(fname)['field'],
                            ticket=ticket.rec_name)
                        if user == sales:
                            message = None
                        with self.subTest(user=user.login, field=fname):
                            self.assertRefused(
                                message, Ticket.write, [ticket],
                                {fname: value})
            self.assertEqual(Ticket.read([ticket.id], fnames), before)
            self.assertEqual(Ticket.search([], count=True), count)

            # what the form sends on a new ticket and a copy are accepted
            with self._as_user(service):
                new, = Ticket.create([{
                            'title': "Phone call", 'state': 'new',
                            'paused_duration': dt.timedelta(),
                            'sla': sla.id, 'reported_date': now - H,
                            }])
                Ticket.write([new], {'reported_date': now - 3 * H})
                copy, = Ticket.copy([ticket])
                self.assertEqual(
                    (copy.state, copy.opened_date, copy.sla_state),
                    ('new', None, 'on_track'))
                self.assertNotEqual(copy.number, ticket.number)
                self.assertNotEqual(copy.work, ticket.work)

    @with_transaction()
    def test_unique_message_id(self):
        "Two tickets of a company never share a Message-ID"
        pool = Pool()
        Ticket = pool.get('service.ticket')
        company = create_company()
        with set_company(company):
            ticket, = Ticket.create([{'title': "First"}])
            # the constraints are the backstop of the sequence and the lock
            # (the failing statement ends the transaction on PostgreSQL)
            with workflow_writes():
                # tickets without Message-ID do not collide
                Ticket.create([{'title': "Phone"}, {'title': "Phone"}])
                Ticket.create([{'title': "Mail", 'message_id': '<m@x>'}])
                with self.assertRaises(SQLConstraintError):
                    Ticket.create([{'title': "Mail", 'message_id': '<m@x>'}])

    @with_transaction()
    def test_unique_number(self):
        "Two tickets of a company never share a number"
        pool = Pool()
        Ticket = pool.get('service.ticket')
        company = create_company()
        with set_company(company):
            ticket, = Ticket.create([{'title': "First"}])
            with workflow_writes():
                with self.assertRaises(SQLConstraintError):
                    Ticket.create([{'title': "Second",
                                'number': ticket.number}])

    @with_transaction()
    def test_system_activity_forgery(self):
        "System activities of tickets stay as the service desk logged them"
        pool = Pool()
        Ticket = pool.get('service.ticket')
        Activity = pool.get('crm.activity')
        Team = pool.get('service.team')
        company = create_company()
        with set_company(company):
            service = self._create_user(company, 'service', 'service')
            sales = self._create_user(company, 'sales', 'sales')
            lead = self._create_user(company, 'lead', 'service')
            team = Team(name="Hotline", lead=lead.employee)
            team.save()
            sla = self._long_sla(response_hours=1, resolution_hours=4)
            now = dt.datetime.now().replace(microsecond=0)
            ticket, = Ticket.create([{
                        'title': "Down", 'sla': sla.id, 'team': team.id,
                        'reported_date': now - 2 * H,
                        }])
            Ticket.escalate()
            escalation, = Activity.search([('resource', '=', str(ticket))])
            with self._as_user(service):
                Ticket.respond([ticket])
            response, = Activity.search([
                    ('resource', '=', str(ticket)),
                    ('id', '!=', escalation.id),
                    ])
            self.assertEqual(
                (escalation.service_system, escalation.state),
                (True, 'planned'))
            self.assertEqual(
                (response.service_system, response.state), (True, 'done'))
            fnames = ['subject', 'date', 'party', 'resource', 'state']
            before = Activity.read([escalation.id, response.id], fnames)

            for user in [service, sales, lead]:
                with self._as_user(user):
                    for activity in [escalation, response]:
                        for fname, value in [
                                ('subject', "Nothing happened"),
                                ('date', now - 100 * H),
                                ('party', company.party.id),
                                ('resource', None),
                                ]:
                            if activity == escalation:
                                message = gettext(
                                    'crm_service.msg_activity_system_write',
                                    field=Activity.__names__(fname)['field'],
                                    activity=activity.rec_name)
                            else:
                                # done activities are kept by crm_lifecycle
                                message = None
                            with self.subTest(
                                    user=user.login, field=fname,
                                    activity=activity.subject):
                                self.assertRefused(
                                    message, Activity.write, [activity],
                                    {fname: value})
                        self.assertRefused(
                            gettext(
                                'crm_lifecycle.msg_workflow_field',
                                field=Activity.__names__('state')['field'],
                                model=Activity.__names__()['model']),
                            Activity.write, [activity], {'state': 'cancelled'})
                    self.assertRefused(
                        gettext('crm_service.msg_activity_system_delete',
                            activity=escalation.rec_name),
                        Activity.delete, [escalation])
                    self.assertRefused(
                        gettext('crm_service.msg_activity_system_cancel',
                            activity=escalation.rec_name),
                        Activity.cancel, [escalation])
                    # nobody makes an activity of theirs a system one
                    self.assertRefused(
                        gettext('crm_lifecycle.msg_workflow_field',
                            field=Activity.__names__(
                                'service_system')['field'],
                            model=Activity.__names__()['model']),
                        Activity.create, [{
                                'subject': "Call", 'party': company.party.id,
                                'resource': str(ticket),
                                'service_system': True,
                                }])
            self.assertEqual(
                Activity.read([escalation.id, response.id], fnames), before)
            self.assertEqual(
                Activity.search([('resource', '=', str(ticket))], count=True),
                2)

            # the lead may add notes and mark the escalation as done
            with self._as_user(lead):
                Activity.write([escalation], {'description': "Called back"})
                Activity.do([escalation])
            self.assertEqual(escalation.state, 'done')

    @with_transaction()
    def test_invoiced_time_forgery(self):
        "No client links, unlinks or changes invoiced service time"
        pool = Pool()
        Ticket = pool.get('service.ticket')
        Party = pool.get('party.party')
        TimesheetLine = pool.get('timesheet.line')
        company = create_company()
        with set_company(company):
            self._setup_invoicing(company)
            service = self._create_user(company, 'service', 'service')
            sales = self._create_user(company, 'sales', 'sales')
            party = Party(name="ACME", addresses=[{}])
            party.save()
            ticket, = Ticket.create([{
                        'title': "Setup", 'party': party.id,
                        'billable': True}])
            invoiced, = TimesheetLine.create([{
                        'employee': service.employee.id,
                        'work': ticket.work.id, 'duration': H,
                        }])
            Ticket.invoice_time([ticket])
            invoice_line = invoiced.service_invoice_line
            self.assertTrue(invoice_line)
            open_, = TimesheetLine.create([{
                        'employee': sales.employee.id, 'work': ticket.work.id,
                        'duration': H,
                        }])
            before = TimesheetLine.read(
                [invoiced.id, open_.id],
                ['service_invoice_line', 'duration', 'work'])

            link = gettext(
                'crm_lifecycle.msg_workflow_field',
                field=TimesheetLine.__names__(
                    'service_invoice_line')['field'],
                model=TimesheetLine.__names__()['model'])
            for user, line in [(service, invoiced), (sales, open_)]:
                with self._as_user(user):
                    self.assertRefused(
                        link, TimesheetLine.write, [line],
                        {'service_invoice_line': None})
                    self.assertRefused(
                        link, TimesheetLine.write, [line],
                        {'service_invoice_line': invoice_line.id})
                    self.assertRefused(
                        link, TimesheetLine.create, [{
                                'employee': user.employee.id,
                                'work': ticket.work.id, 'duration': H,
                                'service_invoice_line': invoice_line.id,
                                }])
                    self.assertRefused(
                        link, TimesheetLine.copy, [line],
                        default={'service_invoice_line': invoice_line.id})
            with self._as_user(service):
                locked = gettext(
                    'crm_service.msg_timesheet_line_invoiced',
                    line=invoiced.rec_name)
                for values in [
                        {'duration': 3 * H}, {'work': None},
                        {'date': dt.date(2000, 1, 1)}]:
                    self.assertRefused(
                        locked, TimesheetLine.write, [invoiced], values)
                self.assertRefused(
                    locked, TimesheetLine.delete, [invoiced])
                # no stricter than project_invoice: the text may change
                TimesheetLine.write([invoiced], {'description': "Setup"})
                self.assertEqual(invoiced.description, "Setup")
                # a copy is time still to invoice
                copy, = TimesheetLine.copy([invoiced])
                self.assertIsNone(copy.service_invoice_line)
                TimesheetLine.delete([copy])
            self.assertEqual(TimesheetLine.read(
                    [invoiced.id, open_.id],
                    ['service_invoice_line', 'duration', 'work']), before)

    @with_transaction()
    def test_invoice_time_price(self):
        "Each time line is invoiced at the product's sale price"
        pool = Pool()
        Ticket = pool.get('service.ticket')
        Party = pool.get('party.party')
        TimesheetLine = pool.get('timesheet.line')
        InvoiceLine = pool.get('account.invoice.line')
        company = create_company()
        with set_company(company):
            product = self._setup_invoicing(company)
            service = self._create_user(company, 'service', 'service')
            party = Party(name="ACME", addresses=[{}])
            party.save()
            ticket, = Ticket.create([{
                        'title': "Setup", 'party': party.id,
                        'billable': True}])
            lines = TimesheetLine.create([{
                        'employee': service.employee.id,
                        'work': ticket.work.id, 'duration': d,
                        } for d in [H, H / 2]])
            with self._as_user(service):
                Ticket.invoice_time([ticket])
            invoice_lines = InvoiceLine.search([], order=[('id', 'ASC')])
            self.assertEqual(
                [(il.origin, il.quantity, il.unit_price, il.amount)
                    for il in invoice_lines],
                [(lines[0], 1, Decimal(80), Decimal(80)),
                    (lines[1], 0.5, Decimal(80), Decimal(40))])
            self.assertEqual(
                [tl.service_invoice_line for tl in lines], invoice_lines)

            # without a sale price nothing is invoiced
            product.template.list_price = None
            product.template.save()
            line, = TimesheetLine.create([{
                        'employee': service.employee.id,
                        'work': ticket.work.id, 'duration': H,
                        }])
            with self._as_user(service):
                with self.assertRaises(UserError) as cm:
                    Ticket.invoice_time([ticket])
            self.assertEqual(cm.exception.message, gettext(
                    'crm_service.msg_ticket_invoice_no_price',
                    ticket=ticket.rec_name, product=product.rec_name,
                    party=party.rec_name))
            self.assertIsNone(line.service_invoice_line)
            self.assertEqual(InvoiceLine.search([], count=True), 2)

    @with_transaction()
    def test_complaint_ticket_invoice_line(self):
        "Service users complain about invoice lines; accountants read origins"
        pool = Pool()
        Complaint = pool.get('sale.complaint')
        ComplaintType = pool.get('sale.complaint.type')
        Invoice = pool.get('account.invoice')
        InvoiceLine = pool.get('account.invoice.line')
        IrModel = pool.get('ir.model')
        Journal = pool.get('account.journal')
        ModelData = pool.get('ir.model.data')
        Party = pool.get('party.party')
        Ticket = pool.get('service.ticket')
        TimesheetLine = pool.get('timesheet.line')
        company = create_company()
        with set_company(company):
            product = self._setup_invoicing(company)
            service = self._create_user(company, 'service', 'service')
            accountant = self._create_user(company, 'accountant', 'service')
            accountant.groups = [
                ModelData.get_id('account', 'group_account')]
            accountant.save()
            customer = Party(name="ACME", addresses=[{}])
            customer.save()
            journal, = Journal.search([('type', '=', 'revenue')])
            invoice = Invoice(type='out', party=customer, journal=journal)
            invoice.on_change_party()
            invoice.lines = [InvoiceLine(
                    company=company, currency=company.currency,
                    invoice_type='out', party=customer, type='line',
                    product=product, account=product.account_revenue_used,
                    unit=product.default_uom, quantity=3,
                    unit_price=Decimal(80))]
            invoice.save()
            Invoice.post([invoice])
            invoice_line, = invoice.lines
            ComplaintType.create([{
                        'name': "Invoice Line",
                        'origin': IrModel.search([
                                ('name', '=', 'account.invoice.line')])[0].id,
                        }])

            with self._as_user(service):
                # The fields of the button stay on the service desk's form
                view = Ticket.fields_view_get(view_type='form')
                self.assertLessEqual(
                    {'origin', 'complaint'}, set(view['fields']))
                self.assertIn(
                    ('account.invoice.line', "Account Invoice Line"),
                    Ticket.get_origins())
                self.assertEqual(
                    InvoiceLine.search([('invoice.type', '=', 'out')]),
                    [invoice_line])
                ticket, = Ticket.create([{
                            'title': "Three hours billed, two worked",
                            'party': customer.id, 'kind': 'complaint',
                            'origin': str(invoice_line),
                            }])
                Ticket.create_complaint([ticket])
                ticket = Ticket(ticket.id)
                complaint = ticket.complaint
                self.assertEqual(
                    (complaint.origin, complaint.customer, complaint.product,
                        complaint.state, ticket.complaint_state),
                    (invoice_line, customer, product, 'draft', 'draft'))
                self.assertEqual(complaint.service_tickets, (ticket,))
                # the complaint itself is handled by sales
                with self.assertRaises(AccessError):
                    Complaint.write([complaint], {'description': "Mine"})
            self.assertEqual(Complaint.search([], count=True), 1)

            # Billable service time: the invoice line's origin is the suite's
            # time line, which the accountant reads
            ticket, = Ticket.create([{
                        'title': "Setup", 'party': customer.id,
                        'billable': True}])
            time_line, = TimesheetLine.create([{
                        'employee': service.employee.id,
                        'work': ticket.work.id, 'duration': H}])
            with self._as_user(service):
                Ticket.invoice_time([ticket])
            with self._as_user(accountant):
                # every origin model is readable, or the field vanishes
                view = InvoiceLine.fields_view_get(view_type='form')
                self.assertIn('origin', view['fields'])
                time_invoice_line, = InvoiceLine.search(
                    [('origin', 'like', 'timesheet.line,%')])
                values, = InvoiceLine.read(
                    [time_invoice_line.id], ['origin', 'origin.rec_name'])
                self.assertEqual(values['origin'], str(time_line))
                self.assertEqual(
                    values['origin.']['rec_name'], time_line.rec_name)
                # and the complaints, origin of the credit notes
                self.assertEqual(
                    Complaint.read([complaint.id], ['rec_name']),
                    [{'id': complaint.id, 'rec_name': complaint.rec_name}])

    @with_transaction()
    def test_exactly_once(self):
        "Respond, invoice, hand over and complain once per ticket"
        pool = Pool()
        Ticket = pool.get('service.ticket')
        Activity = pool.get('crm.activity')
        Party = pool.get('party.party')
        TimesheetLine = pool.get('timesheet.line')
        InvoiceLine = pool.get('account.invoice.line')
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            self._setup_invoicing(company)
            service = self._create_user(company, 'service', 'service')
            party = Party(name="ACME", addresses=[{}])
            party.save()
            ticket, = Ticket.create([{
                        'title': "Setup", 'party': party.id,
                        'billable': True}])
            TimesheetLine.create([{
                        'employee': service.employee.id,
                        'work': ticket.work.id, 'duration': H,
                        }])
            with self._as_user(service):
                Ticket.respond([ticket])
                # the button is gone for the client
                with self.assertRaises(AccessButtonError):
                    Ticket.respond([ticket])
            # and the action finds the response (as a waiting click does)
            Ticket.respond([ticket])
            self.assertEqual(Activity.search([
                        ('resource', '=', str(ticket)),
                        ], count=True), 1)
            with self._as_user(service):

                Ticket.invoice_time([ticket])
                with self.assertRaises(UserError) as cm:
                    Ticket.invoice_time([ticket])
                self.assertEqual(cm.exception.message, gettext(
                        'crm_service.msg_ticket_nothing_to_invoice',
                        tickets=ticket.rec_name))

                Ticket.hand_over([ticket])
            Ticket.hand_over([ticket])
            self.assertEqual(InvoiceLine.search([], count=True), 1)
            self.assertEqual(Opportunity.search([
                        ('crm_origin', '=', str(ticket)),
                        ], count=True), 1)

        # the same e-mail delivered twice is one ticket
        with set_company(company):
            email = self._email("Pump broken", '<once@x>')
            first = Ticket.from_inbound_email(email, None)
            second = Ticket.from_inbound_email(email, None)
            self.assertEqual(first, second)
            self.assertEqual(Ticket.search([
                        ('message_id', '=', '<once@x>'),
                        ], count=True), 1)

    @with_transaction()
    def test_first_response_not_typed(self):
        "A back-dated activity of a user is not the ticket's first response"
        pool = Pool()
        Ticket = pool.get('service.ticket')
        Activity = pool.get('crm.activity')
        company = create_company()
        with set_company(company):
            service = self._create_user(company, 'service', 'service')
            sla = self._long_sla(response_hours=1, resolution_hours=4)
            now = dt.datetime.now().replace(microsecond=0)
            ticket, = Ticket.create([{
                        'title': "Down", 'sla': sla.id,
                        'reported_date': now - 2 * H,
                        }])
            self.assertEqual(ticket.sla_state, 'breached')
            with self._as_user(service):
                # a call "made" before the deadline, logged afterwards
                call, = Activity.create([{
                            'activity_type': 'call', 'direction': 'out',
                            'subject': "Called back",
                            'party': company.party.id,
                            'resource': str(ticket),
                            'date': now - 90 * dt.timedelta(minutes=1),
                            }])
                Activity.do([call])
                self.assertEqual(call.state, 'done')
                ticket = Ticket(ticket.id)
                self.assertEqual(
                    (ticket.first_response_date, ticket.state,
                        ticket.sla_state),
                    (None, 'new', 'breached'))

                Ticket.respond([ticket])
                self.assertGreaterEqual(ticket.first_response_date, now)
                self.assertEqual(
                    (ticket.state, ticket.sla_state), ('open', 'breached'))

    @with_transaction()
    def test_compliance_decided(self):
        "SLA compliance counts the tickets whose target is met or breached"
        pool = Pool()
        Ticket = pool.get('service.ticket')
        Report = pool.get('service.reporting.sla')
        company = create_company()
        with set_company(company):
            sla = self._long_sla(response_hours=1, resolution_hours=4)
            now = dt.datetime.now().replace(microsecond=0)
            running, breached, met = Ticket.create([{
                        'title': title, 'sla': sla.id,
                        'reported_date': now - delay,
                        } for title, delay in [
                        ("Running", dt.timedelta(minutes=10)),
                        ("Late", 2 * H),
                        ("Solved", dt.timedelta(minutes=20)),
                        ]])
            Ticket.respond([met])
            Ticket.resolve([met])
            self.assertEqual(
                [t.sla_state for t in [running, breached, met]],
                ['on_track', 'breached', 'on_track'])
            today = now.date()
            with Transaction().set_context(
                    from_date=today - dt.timedelta(days=1), to_date=today):
                row, = Report.search([])
            self.assertEqual(
                (row.tickets, row.breached, row.compliance), (2, 1, 0.5))

    @with_transaction()
    def test_complaint_cost_report(self):
        "Complaints, their cost and credit by cause, product and customer"
        pool = Pool()
        Cause = pool.get('sale.complaint.cause')
        Complaint = pool.get('sale.complaint')
        ComplaintType = pool.get('sale.complaint.type')
        Invoice = pool.get('account.invoice')
        InvoiceLine = pool.get('account.invoice.line')
        IrModel = pool.get('ir.model')
        Journal = pool.get('account.journal')
        Party = pool.get('party.party')
        Template = pool.get('product.template')
        company = create_company()
        with set_company(company):
            product1 = self._setup_invoicing(company)
            template = Template(
                name="Spare Part", type='service', list_price=Decimal(30),
                default_uom=product1.default_uom,
                account_category=product1.account_category, products=[{}])
            template.save()
            product2, = template.products
            service = self._create_user(company, 'service', 'service')
            transport, wrong = Cause.create([
                    {'name': "Transport Damage"}, {'name': "Wrong Part"}])
            customer1, customer2 = Party.create([
                    {'name': "ACME", 'addresses': [('create', [{}])]},
                    {'name': "Globex", 'addresses': [('create', [{}])]}])
            journal, = Journal.search([('type', '=', 'revenue')])
            invoices = []
            for customer in [customer1, customer2]:
                invoice = Invoice(type='out', party=customer, journal=journal)
                invoice.on_change_party()
                invoice.lines = [InvoiceLine(
                        company=company, currency=company.currency,
                        invoice_type='out', party=customer,
                        type='line', product=product1,
                        account=product1.account_revenue_used,
                        unit=product1.default_uom, quantity=2,
                        unit_price=Decimal(80))]
                invoices.append(invoice)
            Invoice.save(invoices)
            Invoice.post(invoices)
            type_, = ComplaintType.create([{
                        'name': "Invoice",
                        'origin': IrModel.search(
                            [('name', '=', 'account.invoice')])[0].id}])
            complaints = Complaint.create([{
                        'customer': c.id, 'type': type_.id,
                        'origin': str(i), 'cause': cause.id,
                        'product': p.id, 'internal_cost': cost,
                        } for c, i, cause, p, cost in [
                        (customer1, invoices[0], transport, product1,
                            Decimal('10')),
                        (customer1, invoices[0], wrong, product2,
                            Decimal('20.50')),
                        (customer2, invoices[1], transport, product2,
                            Decimal('5')),
                        (customer2, invoices[1], transport, product1,
                            Decimal('7')),
                        ]])
            credited, _, _, cancelled = complaints
            credited.actions = [{'action': 'credit_note'}]
            credited.save()
            with Transaction().set_context(_skip_warnings=True):
                Complaint.wait([credited])
            Complaint.approve([credited])
            Complaint.process([credited])
            Complaint.cancel([cancelled])
            credited = Complaint(credited.id)
            self.assertEqual(credited.state, 'done')
            credit_note, = Invoice.search([('id', 'not in', invoices)])
            self.assertEqual(credit_note.untaxed_amount, Decimal('-160'))
            self.assertEqual(
                (credited.credit_amount, credited.total_cost),
                (Decimal('160'), Decimal('170')))

            today = dt.date.today()
            with self._as_user(service), Transaction().set_context(
                    from_date=today, to_date=today):
                for model, key, expected in [
                        ('cause', 'cause', {
                                transport.id: (2, 15, 160, 175),
                                wrong.id: (1, Decimal('20.50'), 0,
                                    Decimal('20.50'))}),
                        ('product', 'product', {
                                product1.id: (1, 10, 160, 170),
                                product2.id: (2, Decimal('25.50'), 0,
                                    Decimal('25.50'))}),
                        ('customer', 'customer', {
                                customer1.id: (2, Decimal('30.50'), 160,
                                    Decimal('190.50')),
                                customer2.id: (1, 5, 0, 5)}),
                        ]:
                    Report = pool.get(f'service.reporting.complaint.{model}')
                    rows = Report.search([])
                    self.assertEqual({
                            getattr(r, key).id: (
                                r.complaints, r.internal_cost,
                                r.credit_amount, r.total_cost)
                            for r in rows}, expected, model)
                # Another period has no complaint
                with Transaction().set_context(
                        from_date=today + dt.timedelta(days=1),
                        to_date=None):
                    self.assertEqual(
                        pool.get('service.reporting.complaint.cause').search(
                            []), [])

    @with_transaction()
    def test_queue_escalation(self):
        "The escalation job enqueues the tickets; each is escalated once"
        pool = Pool()
        Ticket = pool.get('service.ticket')
        Activity = pool.get('crm.activity')
        company = create_company()
        with set_company(company):
            lead, team, sla = self._escalating_hotline(company)
            now = dt.datetime.now().replace(microsecond=0)
            late, cancelled, fresh = tickets = Ticket.create([{
                        'title': title, 'team': team.id, 'sla': sla.id,
                        'reported_date': now - age,
                        } for title, age in [
                        ("Down", 2 * H), ("Wrong", 2 * H), ("New", 0 * H)]])

            with queue_worker():
                Ticket.escalate()
            tasks = self.tasks('escalate_tickets')
            self.assertTasks(
                tasks, 'service.ticket', 'escalate_tickets',
                [late, cancelled])
            self.assertEqual(
                {t.escalation for t in Ticket.browse(tickets)}, {None})

            # Between the cron and the worker, one ticket is cancelled
            Ticket.cancel([cancelled])

            target = ('trytond.modules.crm_service.ticket.'
                'send_message_transactional')
            with patch(target) as send:
                self.run_tasks(tasks)
                # Once: the tasks again and the next cron
                self.run_tasks(tasks)
                with queue_worker():
                    Ticket.escalate()
                self.run_tasks(self.tasks('escalate_tickets'))
            self.assertEqual(send.call_count, 1)
            self.assertEqual(send.call_args[0][0]['To'], 'leo@example.com')
            late, cancelled, fresh = Ticket.browse(tickets)
            self.assertEqual(
                [(t.sla_state, t.escalation) for t in [late, fresh]],
                [('breached', 'breached'), ('on_track', None)])
            self.assertIsNone(cancelled.escalation)
            activity, = Activity.search([
                    ('resource', 'in', [str(t) for t in tickets]),
                    ('service_system', '=', True),
                    ])
            self.assertEqual(activity.resource, late)
            self.assertEqual(activity.employee, lead)

    @with_transaction()
    def test_breached_queue_first_page(self):
        "The first page of the breached tickets is read in index order"
        pool = Pool()
        Ticket = pool.get('service.ticket')
        ModelData = pool.get('ir.model.data')
        TabDomain = pool.get('ir.action.act_window.domain')
        company = create_company()
        with set_company(company):
            sla = self._long_sla()
            tab = TabDomain(ModelData.get_id(
                    'crm_service', 'act_ticket_form_domain_breached'))
            domain = PYSONDecoder().decode(tab.domain)
            fnames = [
                'number', 'reported_date', 'party', 'party.rec_name',
                'title', 'kind', 'channel', 'priority', 'team',
                'team.rec_name', 'assignee', 'response_deadline',
                'resolution_deadline', 'sla_state', 'state']
            now = dt.datetime.now().replace(microsecond=0)
            breached = []

            def add(count):
                """Add count open breached tickets, as many breached
                cancelled and as many on track"""
                start = 3 * len(breached)
                tickets = Ticket.create([{
                            'title': f"Printer jams {i}",
                            # two by two at the same time
                            'reported_date': now - (start + i) // 2 * H,
                            'sla': sla.id,
                            } for i in range(3 * count)])
                with workflow_writes():
                    Ticket.write(
                        tickets[:2 * count], {'sla_state': 'breached'})
                Ticket.cancel(tickets[count:2 * count])
                breached.extend(tickets[:count])

            def page():
                tickets = Ticket.search(domain, limit=80)
                Ticket.read([t.id for t in tickets], fnames)
                return tickets

            add(10)
            page()
            with count_queries() as few:
                self.assertEqual(len(page()), 10)
            add(100)
            with count_queries() as many:
                tickets = page()
            self.assertEqual(len(many), len(few))
            expected = sorted(breached,
                key=lambda t: (t.reported_date, t.id), reverse=True)[:80]
            self.assertEqual(tickets, expected)

            # In the order of an index among the open tickets
            accesses = table_accesses(
                Ticket.search(domain, limit=80, query=True))
            self.assertEqual(accesses['service_ticket'], {'lookup'})
            if backend.name == 'postgresql':
                self.assertNotIn(None, accesses)


class HourBankTestCase(QueueTestMixin, unittest.TestCase):
    "Test the hour bank with ticket and project time"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module(['crm_service', 'crm_projects'])

    def _create_user(self, company, login, groups):
        "Create a user of company in the crm_lifecycle groups"
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        User = pool.get('res.user')
        employee = create_employee(company, login.title())
        user = User(
            login=login, name=login,
            groups=[ModelData.get_id('crm_lifecycle', g) for g in groups],
            companies=[company], company=company,
            employees=[employee], employee=employee)
        user.save()
        return user

    def _as_user(self, user):
        "Enter the context of user's calls from a client"
        transaction = Transaction()
        stack = ExitStack()
        stack.enter_context(transaction.set_user(user.id))
        stack.enter_context(transaction.set_context(
                company=user.company.id, employee=user.employee.id))
        stack.enter_context(check_access())
        return stack

    def _contract(self, party, start, end, hours=10, run=True):
        pool = Pool()
        Contract = pool.get('service.contract')
        contract = Contract(
            party=party, start_date=start, end_date=end, hours=hours)
        contract.save()
        if run:
            Contract.run([contract])
        return contract

    def _log(self, employee, work, hours, date):
        pool = Pool()
        TimesheetLine = pool.get('timesheet.line')
        line, = TimesheetLine.create([{
                    'employee': employee.id,
                    'work': work.id,
                    'duration': dt.timedelta(hours=hours),
                    'date': date,
                    }])
        return line

    @with_transaction()
    def test_consumption(self):
        "Ticket and project time of the customer within the period count"
        pool = Pool()
        Contract = pool.get('service.contract')
        Party = pool.get('party.party')
        Ticket = pool.get('service.ticket')
        Work = pool.get('project.work')
        company = create_company()
        with set_company(company):
            employee = create_employee(company)
            acme, other = Party.create([{'name': "ACME"}, {'name': "Other"}])
            today = dt.date.today()
            start, end = today - dt.timedelta(days=30), today + dt.timedelta(
                days=30)
            contract = self._contract(acme, start, end)

            ticket, other_ticket = Ticket.create([
                    {'title': "Pump", 'party': acme.id},
                    {'title': "Valve", 'party': other.id}])
            self._log(employee, ticket.work, 2, today)
            self._log(employee, ticket.work, 1, start - dt.timedelta(days=1))
            self._log(employee, ticket.work, 1, end + dt.timedelta(days=1))
            self._log(employee, other_ticket.work, 4, today)

            project = Work(
                name="Project", type='project', company=company, party=acme)
            project.save()
            task = Work(
                name="Task", type='task', company=company, parent=project,
                timesheet_available=True)
            task.save()
            subtask = Work(
                name="Subtask", type='task', company=company, parent=task,
                timesheet_available=True)
            subtask.save()
            other_project = Work(
                name="Other", type='project', company=company, party=other,
                timesheet_available=True)
            other_project.save()
            self._log(employee, task.timesheet_works[0], 1.5, start)
            self._log(employee, subtask.timesheet_works[0], 1.5, end)
            self._log(employee, task.timesheet_works[0], 2, end
                + dt.timedelta(days=1))
            self._log(employee, other_project.timesheet_works[0], 3, today)

            contract = Contract(contract.id)
            self.assertEqual(contract.consumed_hours, 5.0)
            self.assertEqual(contract.remaining_hours, 5.0)
            self.assertEqual(contract.usage, 0.5)
            acme, other = Party.browse([acme, other])
            self.assertEqual(
                [acme.crm_hour_bank_usage, other.crm_hour_bank_usage],
                [0.5, None])

            # the figures of a list take the same queries for more parties
            def read(parties):
                Party.read(
                    [p.id for p in parties], ['crm_hour_bank_usage'])
            read([acme])
            with count_queries() as one:
                read([acme])
            more = Party.create([{'name': f"P{i}"} for i in range(20)])
            for party in more:
                self._contract(party, start, end)
            read([acme, *more])
            with count_queries() as many:
                read([acme, *more])
            self.assertEqual(len(many), len(one))

    @with_transaction()
    def test_upsell_once(self):
        "At 80 % one follow-up for the account manager, however triggered"
        pool = Pool()
        Activity = pool.get('crm.activity')
        Contract = pool.get('service.contract')
        Party = pool.get('party.party')
        Ticket = pool.get('service.ticket')
        company = create_company()
        with set_company(company):
            service = self._create_user(
                company, 'service', ['group_crm_service'])
            manager = create_employee(company, "Mia Manager")
            acme = Party(name="ACME")
            acme.save()
            Party.write([acme], {'crm_account_manager': manager.id})
            today = dt.date.today()
            ticket = Ticket(title="Pump", party=acme)
            ticket.save()
            with self._as_user(service):
                contract = self._contract(
                    acme, today, today + dt.timedelta(days=90))
                # the account manager of the contract is the fallback
                self.assertEqual(contract.account_manager, service.employee)

                self._log(service.employee, ticket.work, 7.5, today)
                self.assertEqual(Activity.search([
                            ('resource', '=', str(contract)),
                            ], count=True), 0)

            # Two lines pass 80 % before the worker runs either task
            with queue_worker():
                with self._as_user(service):
                    self._log(service.employee, ticket.work, 0.5, today)
                    self._log(service.employee, ticket.work, 0.5, today)
            tasks = self.tasks('check_upsell')
            self.assertEqual(len(tasks), 2)
            self.run_tasks(tasks)
            Contract.check_upsell([contract])

            activity, = Activity.search([
                    ('resource', '=', str(contract)),
                    ])
            self.assertEqual(activity.employee, manager)
            self.assertEqual(activity.party, acme)
            self.assertEqual(activity.state, 'planned')
            self.assertEqual(activity.subject, "Offer more hours to ACME")
            contract = Contract(contract.id)
            self.assertEqual(contract.upsell_activity, activity)
            self.assertEqual(contract.usage, 0.85)

            # Without an account manager the contract's is asked
            Party.write([acme], {'crm_account_manager': None})
            Contract.close([contract])
            second = self._contract(
                acme, today + dt.timedelta(days=91),
                today + dt.timedelta(days=120), hours=1)
            self._log(service.employee, ticket.work, 1,
                today + dt.timedelta(days=100))
            second = Contract(second.id)
            self.assertEqual(second.upsell_activity.employee, None)
            second.account_manager = manager
            second.save()
            Contract.draft([second])
            self.assertEqual(second.usage, 1.0)

    @with_transaction()
    def test_overlap(self):
        "One running contract per customer and day"
        pool = Pool()
        Contract = pool.get('service.contract')
        Party = pool.get('party.party')
        company = create_company()
        with set_company(company):
            acme, other = Party.create([{'name': "ACME"}, {'name': "Other"}])
            first = self._contract(
                acme, dt.date(2025, 1, 1), dt.date(2025, 6, 30))
            overlapping = self._contract(
                acme, dt.date(2025, 6, 30), dt.date(2025, 12, 31), run=False)
            with self.assertRaises(UserError) as cm:
                Contract.run([overlapping])
            self.assertEqual(cm.exception.message, gettext(
                    'crm_service.msg_contract_overlap',
                    contract=overlapping.rec_name, other=first.rec_name))
            self.assertEqual(
                cm.exception.message,
                'You cannot run hour bank "ACME 2025-06-30 - 2025-12-31" '
                'because hour bank "ACME 2025-01-01 - 2025-06-30" of the '
                'same customer runs for some of its days.')
            self.assertEqual(Contract(overlapping.id).state, 'draft')

            # the days after, another customer, a closed contract
            after = self._contract(
                acme, dt.date(2025, 7, 1), dt.date(2025, 12, 31))
            self._contract(other, dt.date(2025, 1, 1), dt.date(2025, 12, 31))
            self.assertEqual(after.state, 'running')
            with self.assertRaises(UserError):
                Contract.write([first], {'end_date': dt.date(2025, 7, 1)})
            Contract.close([first])
            with self.assertRaises(UserError):
                Contract.run([overlapping])
            Contract.close([after])
            Contract.run([overlapping])

            # two drafts run together
            one, two = [self._contract(acme, dt.date(2026, 1, 1),
                    dt.date(2026, 1, 31), run=False) for _ in range(2)]
            with self.assertRaises(UserError):
                Contract.run([one, two])

    @with_transaction()
    def test_access(self):
        "Service and sales manage contracts, CRM reads, per company"
        pool = Pool()
        Contract = pool.get('service.contract')
        Party = pool.get('party.party')
        User = pool.get('res.user')
        company = create_company()
        other_company = create_company(name="Other")
        with set_company(company):
            users = {login: self._create_user(company, login, groups)
                for login, groups in [
                    ('service', ['group_crm_service']),
                    ('sales', ['group_crm_sales']),
                    ('crm', ['group_crm']),
                    ('projects', ['group_crm_projects']),
                    ]}
            outsider = User(login='outsider', name="Outsider",
                companies=[company], company=company)
            outsider.save()
            acme = Party(name="ACME")
            acme.save()
        with set_company(other_company):
            theirs = self._contract(
                acme, dt.date(2025, 1, 1), dt.date(2025, 12, 31))

        with self._as_user(users['service']):
            contract, = Contract.create([{
                        'party': acme.id,
                        'start_date': dt.date(2025, 1, 1),
                        'end_date': dt.date(2025, 12, 31),
                        'hours': 10,
                        }])
            Contract.run([contract])
            self.assertEqual(Contract.search([]), [contract])
            with self.assertRaises(AccessError):
                Contract.read([theirs.id], ['hours'])
            # workflow fields move by the buttons only
            for values in [
                    {'state': 'closed'},
                    {'upsell_activity': None, 'state': 'draft'},
                    {'party': acme.id},
                    {'start_date': dt.date(2025, 2, 1)},
                    ]:
                with self.assertRaises(AccessError):
                    Contract.write([contract], values)
            with self.assertRaises(AccessError):
                Contract.delete([contract])
        with self._as_user(users['sales']):
            Contract.write([contract], {'hours': 20})
            Contract.close([contract])
            with self.assertRaises(AccessError):
                Contract.write([contract], {'hours': 30})
        for login in ['crm', 'projects']:
            with self._as_user(users[login]):
                self.assertEqual(Contract.search([]), [contract])
                self.assertEqual(Contract(contract.id).hours, 20)
                with self.assertRaises(AccessError):
                    Contract.write([contract], {'hours': 5})
                with self.assertRaises(AccessError):
                    Contract.create([{
                                'party': acme.id,
                                'start_date': dt.date(2026, 1, 1),
                                'end_date': dt.date(2026, 12, 31),
                                'hours': 10,
                                }])
                with self.assertRaises(AccessButtonError):
                    Contract.draft([contract])
        with Transaction().set_user(outsider.id), check_access():
            with self.assertRaises(AccessError):
                Contract.search([])


del ModuleTestCase
