# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Load test: the departments of the demo company at work, for a bounded
time, against the production set (tools/serve_prod.py: PostgreSQL, the
WSGI server with 1 and then 2 worker processes, trytond-cron and
trytond-worker).

Virtual users (threads, 127.0.0.1 only) log in as the demo users and do in
a loop, without pause, the JSON-RPC calls the web client makes:

- sales (vertrieb): customer list, customer page (the party with its CRM
  key figures), timeline pages, New Contact (the wizard), an opportunity
  brought to a quotation (Convert);
- service: e-mails posted to the intake web hook (now and then the same
  one again), the queue of unanswered tickets, a ticket, Respond;
- projects (projekt): a milestone on a project of an order, reached,
  accepted by the customer's contact, Create Invoice;
- management (leitung): conversion by channel and by event, SLA
  compliance, service-originated business, the customer list with key
  figures;
- accounting (buchhaltung): the customer invoices with their totals, an
  invoice with its lines.

Now and then a user presses Convert, Respond or Create Invoice twice at
once (a double click), or two users take the same ticket: the refusal of
the second click is a business refusal, counted apart from the errors.

Each run starts from a copy of the demo database (CREATE DATABASE ...
TEMPLATE), prepares what the users need (an inbox for the web hook, orders
with a project service whose projects take the milestones), serves it with
the given number of worker processes, plays the users for the given time
and then checks with SQL that nothing was done twice and that the amounts
add up. It prints requests per second, p50/p95 latency per kind of request
and overall, the errors and the invariants, and writes them as JSON.

    python bench/load.py                    # 2 min with 1, then 2 workers
    python bench/load.py --duration 30 --workers 2 --small
"""
import argparse
import datetime as dt
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'tools'))

import serve_prod  # noqa: E402
from rpc_client import (  # noqa: E402
    Client,
    decimal,
    number,
    outcome,
    post,
)

PASSWORD = serve_prod.DEMO_PASSWORD
# The virtual users in the order they join: with 12, 4 of sales, 3 of
# service, 2 of projects, 2 of management and 1 of accounting
ROLES = [
    'vertrieb', 'service', 'projekt', 'leitung', 'vertrieb', 'service',
    'buchhaltung', 'vertrieb', 'projekt', 'service', 'vertrieb', 'leitung',
    'vertrieb', 'service', 'projekt', 'vertrieb',
    ]
# Orders with a project service that the projects user puts milestones on
PROJECTS = 8
PROJECT_HOURS = 100
MILESTONE_AMOUNT = 60
# How often a user presses a button twice at once
DOUBLE_CLICK = 0.25
REQUEST_TIMEOUT = 90

SURNAMES = [
    "Albrecht", "Brandt", "Dietrich", "Engel", "Franke", "Graf", "Haas",
    "Jäger", "Kühn", "Ludwig", "Marx", "Nowak", "Otto", "Pohl", "Ritter",
    "Sauer", "Thiel", "Ulrich", "Vogt", "Winter", "Ziegler",
    ]
TRADES = [
    "Anlagenbau", "Blechtechnik", "Hydraulik", "Lasertechnik",
    "Oberflächentechnik", "Pneumatik", "Schweißtechnik", "Zerspanung",
    ]
CHANNELS = ['trade_fair', 'phone', 'web', 'referral']
FAULTS = [
    "Presse verliert Öl", "Steuerung meldet E17", "Förderband steht",
    "Lichtschranke defekt", "Bitte um Wartungstermin",
    "Ersatzteil gesucht", "Antrieb zu laut",
    ]


class CPU:
    """Where the machine's processor time goes during a run, from /proc:
    the web processes (the session of gunicorn), the load generator (this
    process) and all the rest (PostgreSQL, cron, worker, anything else),
    in cores (core-seconds per second)"""

    TICKS = os.sysconf('SC_CLK_TCK')

    def __init__(self, web_session):
        self.web_session = web_session

    @staticmethod
    def _machine():
        "(busy, total) clock ticks of all cores"
        with open('/proc/stat') as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
        idle = values[3] + values[4]
        return sum(values) - idle, sum(values)

    def _web(self):
        ticks = 0
        for pid in os.listdir('/proc'):
            if not pid.isdigit():
                continue
            try:
                with open(f'/proc/{pid}/stat') as stat:
                    fields = stat.read().rsplit(')', 1)[1].split()
            except OSError:
                continue
            # session id, then utime, stime of the process
            if int(fields[3]) == self.web_session:
                ticks += int(fields[11]) + int(fields[12])
        return ticks / self.TICKS

    @staticmethod
    def _own():
        times = os.times()
        return times.user + times.system

    def start(self):
        self.started = (time.monotonic(), self._machine(), self._web(),
            self._own())

    def stop(self):
        "Return the cores used on average since start"
        clock, (busy, total), web, own = self.started
        seconds = time.monotonic() - clock
        busy2, total2 = self._machine()
        cores = (total2 - total) / self.TICKS / seconds
        machine = (busy2 - busy) / self.TICKS / seconds
        web = (self._web() - web) / seconds
        own = (self._own() - own) / seconds
        return {
            'cores': round(cores, 2),
            'busy': round(machine, 2),
            'web': round(web, 2),
            'load_generator': round(own, 2),
            'rest': round(max(machine - web - own, 0), 2),
            }


class Stop(Exception):
    "The iteration of a user ends here (refused or failed)"


class Recorder:
    "The answers of all users: kind of request, seconds, result"

    def __init__(self):
        self.lock = threading.Lock()
        self.samples = []
        self.errors = []
        self.refusals = defaultdict(int)

    def add(self, kind, seconds, result, detail=None):
        with self.lock:
            self.samples.append((kind, seconds, result))
            if result == 'error' and len(self.errors) < 40:
                self.errors.append(f"{kind}: {detail}"[:1500])
            elif result == 'refused':
                # one line per message, whatever record it names
                message = re.sub(r'"[^"]*"', '"…"', str(detail))[:160]
                self.refusals[f"{kind}: {message}"] += 1


class Shared:
    "What the users find and leave for the invariants"

    def __init__(self, data):
        self.data = data
        self.lock = threading.Lock()
        self.delivered = set()
        self.new_parties = set()
        self.converted = set()
        self.milestones = set()
        self.counters = defaultdict(int)

    def next(self, name):
        with self.lock:
            self.counters[name] += 1
            return self.counters[name]


def _date(value):
    return {'__class__': 'date', 'year': value.year, 'month': value.month,
        'day': value.day}


def _form_fields(view):
    "The fields the web client reads for a view: relations with rec_name"
    names = []
    for name, field in view['fields'].items():
        names.append(name)
        if field['type'] in {'many2one', 'reference', 'one2one'}:
            names.append(f'{name}.rec_name')
    return names


class User:
    "A virtual user: one session, one loop"
    login = None

    def __init__(self, index, stack, database, recorder, shared, seed):
        self.index = index
        self.database = database
        self.recorder = recorder
        self.shared = shared
        self.data = shared.data
        self.rng = random.Random(seed)
        self.client = Client.from_url(stack.url, database, self.login,
            PASSWORD, timeout=REQUEST_TIMEOUT)
        self.context = self.client.context
        self.views = {}

    def view(self, model, view_type):
        "The fields of a view, asked once per session as the client does"
        key = (model, view_type)
        if key not in self.views:
            self.views[key] = _form_fields(self.client.model(
                    model, 'fields_view_get', None, view_type))
        return self.views[key]

    def warm_up(self):
        "What the client loads once after the login"

    def _send(self, method, args, context=None):
        params = [*args, {**self.context, **(context or {})}]
        started = time.monotonic()
        try:
            status, data = self.client.request(method, params)
        except Exception as exception:
            return ('error', f'{type(exception).__name__}: {exception}',
                None, time.monotonic() - started)
        seconds = time.monotonic() - started
        kind, detail = outcome(status, data)
        result = data.get('result') if isinstance(data, dict) else None
        return kind, detail, result, seconds

    def call(self, kind, method, *args, refusable=False, context=None):
        """Send one request; return its result or raise Stop when it is
        refused (refusable: a business refusal) or fails (an error)"""
        answer, detail, result, seconds = self._send(method, args, context)
        if answer == 'ok':
            self.recorder.add(kind, seconds, 'ok')
            return result
        if refusable and answer in {'user', 'concurrency', 'unavailable'}:
            self.recorder.add(kind, seconds, 'refused', detail)
        else:
            self.recorder.add(kind, seconds, 'error', detail)
        raise Stop

    def click(self, kind, method, *args, double=False, own=True):
        """Press a button, or press it twice at once (double): one click
        must do it, the other may be refused (both when the record is not
        the user's own: another user may have pressed it before)"""
        if not double:
            return self.call(kind, method, *args, refusable=True)
        answers = [None, None]

        def press(i):
            answers[i] = self._send(method, args)
        threads = [threading.Thread(target=press, args=(i,))
            for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        ok = False
        for answer, detail, _, seconds in answers:
            if answer == 'ok':
                ok = True
                self.recorder.add(kind, seconds, 'ok')
            elif answer in {'user', 'concurrency', 'unavailable'}:
                self.recorder.add(kind, seconds, 'refused', detail)
            else:
                self.recorder.add(kind, seconds, 'error', detail)
        if not ok:
            if own and all(a[0] not in {'other', 'error'} for a in answers):
                self.recorder.add(kind, 0, 'error',
                    "double click: both clicks refused: "
                    + ' | '.join(str(a[1]) for a in answers))
            raise Stop
        return next(a[2] for a in answers if a[0] == 'ok')

    def step(self):
        raise NotImplementedError

    def run(self, deadline):
        while time.monotonic() < deadline:
            try:
                self.step()
            except Stop:
                pass

    # Pages several departments open

    def customer_page(self, party):
        "The customer's form with its CRM key figures, then its timeline"
        self.call('party.form', 'model.party.party.read', [party],
            self.view('party.party', 'form'))
        self.timeline_page(party, 0)

    def timeline_page(self, party, offset):
        return self.call('timeline.page', 'model.crm.timeline.search_read',
            [('party', '=', party)], offset, 80, None,
            ['date', 'kind', 'description', 'amount', 'state_string',
                'document', 'document.rec_name', 'employee.rec_name'])


class Sales(User):
    login = 'vertrieb'

    def warm_up(self):
        self.view('party.party', 'form')
        self.leads = []

    def step(self):
        choice = self.rng.random()
        if choice < .35:
            stage = self.rng.choice(['customer', 'quoted', 'lead', 'contact'])
            parties = self.call('party.list',
                'model.party.party.search_read',
                [('lifecycle_stage', '=', stage)], 0, 80, None,
                ['code', 'name', 'lifecycle_stage', 'lifecycle_since',
                    'crm_channel', 'crm_event.rec_name',
                    'first_contact_date'])
            party = (self.rng.choice(parties)['id'] if parties
                else self.rng.choice(self.data['customers'])['id'])
            self.customer_page(party)
        elif choice < .5:
            party = self.rng.choice(self.data['customers'])['id']
            if self.timeline_page(party, 0):
                self.timeline_page(party, 80)
        elif choice < .8 or not self.leads:
            self.new_contact()
        else:
            self.convert(self.leads.pop(0))

    def new_contact(self):
        rng = self.rng
        number = self.shared.next('contact')
        surname = rng.choice(SURNAMES)
        name = (f"{surname} {rng.choice(TRADES)} "
            f"L{self.index:02d}-{number:05d} GmbH")
        ascii_name = surname.lower().translate(
            str.maketrans({'ä': 'ae', 'ö': 'oe', 'ü': 'ue', 'ß': 'ss'}))
        email = f"einkauf@{ascii_name}-{self.index}-{number}.example"
        existing = None
        if rng.random() < .1:
            # a buyer met again: the wizard shows the duplicate
            existing = rng.choice(self.data['customers'])
            email = existing['email'] or email
        with_opportunity = rng.random() < .6
        channel = rng.choice(CHANNELS)
        wizard = 'wizard.crm.first_contact'
        session, _, _ = self.call('contact.wizard', f'{wizard}.create')
        try:
            self.call('contact.wizard', f'{wizard}.execute', session, {},
                'start')
            values = {
                'company': self.context['company'],
                'party': None,
                'organisation': name,
                'person': f"Jana {surname}",
                'email': email,
                'phone': None,
                'channel': channel,
                'event': (self.data['fair'] if channel == 'trade_fair'
                    else None),
                'note': "Gespräch über eine neue Anlage.",
                'employee': self.context.get('employee'),
                'create_opportunity': with_opportunity,
                'description': "Neue Anlage" if with_opportunity else None,
                'amount': decimal(rng.choice([8000, 25000, 60000])),
                }
            result = self.call('contact.wizard', f'{wizard}.execute',
                session, {'start': values}, 'check')
            view = result.get('view') or {}
            created = True
            if view.get('state') == 'duplicates':
                # the rows of the possible duplicates, each with its party
                candidates = view['defaults'].get('candidates') or []
                party, step = None, 'record_new'
                if candidates and rng.random() < .5:
                    party, created = candidates[0]['party'], False
                    step = 'record'
                result = self.call('contact.wizard', f'{wizard}.execute',
                    session, {'duplicates': {'party': party}}, step)
        finally:
            try:
                self.call('contact.wizard', f'{wizard}.delete', session)
            except Stop:
                pass
        action, _ = result['actions'][0]
        party, = action['res_id']
        if created:
            with self.shared.lock:
                self.shared.new_parties.add(name)
        if with_opportunity:
            self.leads.append(party)

    def convert(self, party):
        "The lead's opportunity: a product, Opportunity, Convert"
        data = self.data
        opportunities = self.call('opportunity.list',
            'model.sale.opportunity.search_read',
            [('party', '=', party), ('state', '=', 'lead')], 0, 10, None,
            ['number', 'description', 'state', 'amount', 'party.rec_name'])
        if not opportunities:
            return
        opportunity = opportunities[0]['id']
        party_values, = self.call('party.form', 'model.party.party.read',
            [party], ['addresses'])
        self.call('opportunity.save', 'model.sale.opportunity.write',
            [opportunity], {
                'address': party_values['addresses'][0],
                'employee': self.context.get('employee'),
                'payment_term': data['payment_term'],
                'lines': [['create', [{
                                'product': data['goods'],
                                'unit': data['unit'],
                                'quantity': self.rng.randint(1, 3),
                                }]]],
                })
        self.call('opportunity.opportunity',
            'model.sale.opportunity.opportunity', [opportunity])
        self.click('opportunity.convert', 'model.sale.opportunity.convert',
            [opportunity], double=self.rng.random() < DOUBLE_CLICK)
        with self.shared.lock:
            self.shared.converted.add(opportunity)


class Service(User):
    login = 'service'

    def warm_up(self):
        self.view('service.ticket', 'form')
        self.sent = []

    def step(self):
        if self.rng.random() < .5:
            self.intake()
        else:
            self.respond()

    def intake(self):
        rng = self.rng
        shared = self.shared
        if self.sent and rng.random() < .1:
            # the mail server delivers the same message again
            message_id, raw = rng.choice(self.sent)
            kind = 'email.redelivery'
        else:
            number = shared.next('email')
            message_id = (f'<load-{self.database}-{self.index}-{number}'
                '@mail.example>')
            sender = (rng.choice(self.data['emails'])
                if self.data['emails'] and rng.random() < .7 else
                f"technik{number}@unbekannt.example")
            raw = (f'From: Kunde <{sender}>\r\n'
                'To: hotline@muster-maschinenbau.example\r\n'
                f'Subject: {rng.choice(FAULTS)}\r\n'
                f'Message-ID: {message_id}\r\n'
                'Content-Type: text/plain; charset=utf-8\r\n'
                '\r\n'
                'Bitte um Rückruf, die Anlage steht.\r\n').encode()
            kind = 'email.intake'
        started = time.monotonic()
        try:
            status, body = post(self.client.host, self.client.port,
                f'/{self.database}/inbound_email/inbox/'
                f'{self.data["inbox"]}', raw,
                {'Content-Type': 'application/octet-stream'},
                timeout=REQUEST_TIMEOUT)
        except Exception as exception:
            self.recorder.add(kind, time.monotonic() - started, 'error',
                f'{type(exception).__name__}: {exception}')
            raise Stop from exception
        seconds = time.monotonic() - started
        if status == 204:
            self.recorder.add(kind, seconds, 'ok')
            with shared.lock:
                shared.delivered.add(message_id)
            if kind == 'email.intake':
                self.sent.append((message_id, raw))
        else:
            self.recorder.add(kind, seconds, 'error',
                f'HTTP {status}: {body[:1000]!r}')

    def respond(self):
        tickets = self.call('ticket.list',
            'model.service.ticket.search_read', [
                ('state', 'in', ['new', 'open']),
                ('first_response_date', '=', None),
                ], 0, 20, [('reported_date', 'ASC'), ('id', 'ASC')],
            ['number', 'title', 'party.rec_name', 'priority', 'state',
                'sla_state', 'response_deadline', 'assignee.rec_name'])
        if not tickets:
            return
        # the oldest ones: two of the desk may take the same
        ticket = self.rng.choice(tickets[:4])['id']
        self.call('ticket.form', 'model.service.ticket.read', [ticket],
            self.view('service.ticket', 'form'))
        self.click('ticket.respond', 'model.service.ticket.respond',
            [ticket], double=self.rng.random() < DOUBLE_CLICK / 2,
            own=False)


class Projects(User):
    login = 'projekt'

    def warm_up(self):
        self.view('project.milestone', 'form')

    def step(self):
        rng = self.rng
        project = rng.choice(self.data['projects'])
        self.call('milestone.list', 'model.project.milestone.search_read',
            [('project', '=', project['id'])], 0, 80, None,
            ['sequence', 'name', 'planned_date', 'amount', 'state',
                'invoice.rec_name'])
        number = self.shared.next('milestone')
        milestone, = self.call('milestone.create',
            'model.project.milestone.create', [{
                    'project': project['id'],
                    'name': f"Teilabnahme {number}",
                    'amount_type': 'fixed',
                    'fixed_amount': decimal(MILESTONE_AMOUNT),
                    'planned_date': _date(dt.date.today()),
                    }], refusable=True)
        with self.shared.lock:
            self.shared.milestones.add(milestone)
        self.call('milestone.reach', 'model.project.milestone.reach',
            [milestone])
        self.call('milestone.save', 'model.project.milestone.write',
            [milestone], {
                'accepted_by': project['contact'],
                'acceptance_note': "Ohne Mängel abgenommen",
                })
        self.call('milestone.accept', 'model.project.milestone.accept',
            [milestone])
        self.click('milestone.invoice',
            'model.project.milestone.create_invoice', [milestone],
            double=rng.random() < DOUBLE_CLICK)
        self.call('milestone.form', 'model.project.milestone.read',
            [milestone], self.view('project.milestone', 'form'))


class Management(User):
    login = 'leitung'

    def step(self):
        today = dt.date.today()
        context = {'from_date': _date(today - dt.timedelta(days=365)),
            'to_date': _date(today)}
        funnel = ['contacts', 'leads', 'quoted', 'customers', 'order_amount',
            'win_rate', 'median_days']
        choice = self.rng.randrange(5)
        if choice == 0:
            self.call('report.conversion',
                'model.crm.reporting.funnel.channel.search_read', [], 0,
                None, None, ['crm_channel'] + funnel, context=context)
        elif choice == 1:
            self.call('report.conversion',
                'model.crm.reporting.funnel.event.search_read', [], 0,
                None, None, ['crm_event.rec_name'] + funnel,
                context=context)
        elif choice == 2:
            self.call('report.sla',
                'model.service.reporting.sla.search_read', [], 0, None,
                None, ['period', 'team.rec_name', 'priority', 'tickets',
                    'breached', 'compliance', 'median_response_hours',
                    'median_resolution_hours'], context=context)
        elif choice == 3:
            self.call('report.handover',
                'model.service.reporting.handover.search_read', [], 0,
                None, None, ['team.rec_name', 'employee.rec_name',
                    'opportunities', 'orders'], context=context)
        else:
            self.call('party.figures', 'model.party.party.search_read',
                [('lifecycle_stage', 'in', ['customer', 'quoted'])], 0, 80,
                None, ['name', 'lifecycle_stage', 'crm_last_contact',
                    'crm_open_opportunities', 'crm_open_quotation_amount',
                    'crm_orders_year_amount', 'crm_open_tickets',
                    'crm_sla_breaches'])


class Accounting(User):
    login = 'buchhaltung'

    def warm_up(self):
        self.view('party.party', 'form')

    def step(self):
        invoices = self.call('invoice.list',
            'model.account.invoice.search_read', [('type', '=', 'out')],
            0, 80, [('id', 'DESC')],
            ['number', 'party.rec_name', 'invoice_date', 'untaxed_amount',
                'tax_amount', 'total_amount', 'state', 'description'])
        if invoices:
            invoice = self.rng.choice(invoices[:20])
            values, = self.call('invoice.form',
                'model.account.invoice.read', [invoice['id']],
                ['number', 'party', 'lines', 'untaxed_amount',
                    'tax_amount', 'total_amount', 'state'])
            self.call('invoice.form', 'model.account.invoice.line.read',
                values['lines'], ['description', 'quantity', 'unit_price',
                    'amount', 'origin.rec_name'])
        self.customer_page(self.rng.choice(self.data['customers'])['id'])


USERS = {cls.login: cls for cls in [
        Sales, Service, Projects, Management, Accounting]}


# Preparing a run: in a process of its own, through proteus in-process


PREPARE = r'''
import datetime as dt
import json
import sys
from decimal import Decimal

from proteus import Model
from proteus import config as pconfig

database, projects, hours = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pconfig.set_trytond(database)
Inbox = Model.get('inbound.email.inbox')
inbox = Inbox(name="Hotline (load test)")
rule = inbox.rules.new()
rule.action = 'service.ticket|from_inbound_email'
inbox.save()
inbox.click('new_identifier')

# The orders are taken by sales
pconfig.set_trytond(database, user='vertrieb')
Party = Model.get('party.party')
Product = Model.get('product.product')
Sale = Model.get('sale.sale')
Campaign = Model.get('marketing.campaign')
PaymentTerm = Model.get('account.invoice.payment_term')
service, = Product.find([('template.project_service', '=', True)], limit=1)
goods = Product.find([('type', '=', 'goods'), ('salable', '=', True)],
    limit=1)[0]
term, = PaymentTerm.find([], limit=1)
customers = [p for p in Party.find(
        [('lifecycle_stage', 'in', ['customer', 'quoted'])])
    if p.contact_mechanisms]
fairs = Campaign.find([], limit=1)
data = {
    'inbox': inbox.identifier,
    'goods': goods.id,
    'unit': goods.default_uom.id,
    'payment_term': term.id,
    'fair': fairs[0].id if fairs else None,
    'customers': [{
            'id': p.id,
            'email': next((m.value for m in p.contact_mechanisms
                    if m.type == 'email'), None),
            } for p in customers],
    'emails': sorted({m.value for p in customers
            for m in p.contact_mechanisms if m.type == 'email'}),
    'projects': [],
    }
for i in range(projects):
    party = customers[i % len(customers)]
    sale = Sale(party=party, payment_term=term)
    sale.description = f"Anlage {i + 1} (Lasttest)"
    line = sale.lines.new()
    line.product = service
    line.quantity = hours
    sale.click('quote')
    sale.click('confirm')
    sale.reload()
    project, = sale.projects
    data['projects'].append({
            'id': project.id,
            'sale': sale.id,
            'contact': party.contact_mechanisms[0].id,
            })
print('DATA ' + json.dumps(data))
'''


def prepare(pg_uri, database, projects=PROJECTS):
    "Return what the users need, made in the database"
    env = {**os.environ, 'TRYTOND_DATABASE__URI': pg_uri,
        'PGOPTIONS': os.environ.get('PGOPTIONS', '')}
    for name in ['TRYTOND_CONFIG', 'TRYTOND_DATABASE_URI', 'DB_NAME',
            'DB_CACHE']:
        env.pop(name, None)
    process = subprocess.run(
        [sys.executable, '-c', PREPARE, database, str(projects),
            str(PROJECT_HOURS)],
        env=env, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True,
        text=True, timeout=600)
    lines = [line for line in process.stdout.splitlines()
        if line.startswith('DATA ')]
    if process.returncode or not lines:
        raise RuntimeError("Preparing the load failed:\n"
            + process.stdout[-3000:] + process.stderr[-6000:])
    return json.loads(lines[-1][5:])


def copy_database(pg_uri, template, database):
    drop_database(pg_uri, database)
    with serve_prod.pg_connect(pg_uri) as connection:
        connection.execute(
            f'CREATE DATABASE "{database}" TEMPLATE "{template}"')


def drop_database(pg_uri, database):
    "Drop the database and what it left in the file store"
    with serve_prod.pg_connect(pg_uri) as connection:
        connection.execute(
            f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    store = serve_prod._data_path()
    shutil.rmtree(store / database, ignore_errors=True)
    (store / f'{database}.password').unlink(missing_ok=True)


# The invariants, checked with SQL after the run


def _rows(connection, query, *params):
    return connection.execute(query, params).fetchall()


def check_invariants(pg_uri, database, shared, before, server_totals):
    """Return {name: (number of violations, examples)}: every name must
    have 0"""
    checks = {}
    with serve_prod.pg_connect(pg_uri, database) as connection:
        def check(name, rows):
            checks[name] = (len(rows), [list(map(str, r)) for r in rows[:5]])

        check('tickets: one per Message-ID and company', _rows(connection,
                'SELECT company, message_id, COUNT(*) FROM service_ticket '
                'WHERE message_id IS NOT NULL GROUP BY company, message_id '
                'HAVING COUNT(*) > 1'))
        found = {r[0] for r in _rows(connection,
                'SELECT message_id FROM service_ticket '
                'WHERE message_id = ANY(%s)', list(shared.delivered))}
        check('tickets: every accepted e-mail is a ticket',
            [(m,) for m in sorted(shared.delivered - found)])
        check('tickets: numbers distinct', _rows(connection,
                'SELECT company, number, COUNT(*) FROM service_ticket '
                'GROUP BY company, number HAVING COUNT(*) > 1'))
        check('tickets: one first response each', _rows(connection,
                "SELECT resource, COUNT(*) FROM crm_activity "
                "WHERE resource LIKE 'service.ticket,%%' "
                "AND direction = 'out' AND service_system "
                "GROUP BY resource HAVING COUNT(*) > 1"))
        check('tickets: responded ones have their response',
            _rows(connection,
                "SELECT t.id FROM service_ticket AS t "
                "WHERE t.first_response_date IS NOT NULL AND NOT EXISTS ("
                "SELECT 1 FROM crm_activity AS a "
                "WHERE a.resource = 'service.ticket,' || t.id "
                "AND a.direction = 'out')"))
        check('milestones: one invoice each', _rows(connection,
                'SELECT invoice, COUNT(*) FROM project_milestone '
                'WHERE invoice IS NOT NULL GROUP BY invoice '
                'HAVING COUNT(*) > 1'))
        check('milestones: no invoice without its milestone',
            _rows(connection,
                "SELECT i.id FROM account_invoice AS i "
                "WHERE i.id > %s AND i.type = 'out' AND NOT EXISTS ("
                "SELECT 1 FROM project_milestone AS m "
                "WHERE m.invoice = i.id)", before['invoice']))
        check('milestones: invoiced amount = their invoice lines',
            _rows(connection,
                "SELECT m.id, m.state, m.invoiced_amount, SUM(ROUND("
                "CAST(l.quantity AS NUMERIC) * l.unit_price, 2)) "
                "FROM project_milestone AS m "
                "LEFT JOIN account_invoice_line AS l "
                "ON l.invoice = m.invoice AND l.type = 'line' "
                "WHERE m.invoice IS NOT NULL "
                "GROUP BY m.id, m.state, m.invoiced_amount "
                "HAVING m.state NOT IN ('invoiced', 'paid') "
                "OR m.invoiced_amount IS NULL "
                "OR m.invoiced_amount != SUM(ROUND("
                "CAST(l.quantity AS NUMERIC) * l.unit_price, 2))"))
        check('milestones: not invoiced ones have no amount invoiced',
            _rows(connection,
                "SELECT id, state FROM project_milestone "
                "WHERE invoice IS NULL AND (invoiced_amount IS NOT NULL "
                "OR state IN ('invoiced', 'paid'))"))
        check('milestones: never more than the order', _rows(connection,
                "SELECT w.id, SUM(m.fixed_amount), s.untaxed_amount_cache "
                "FROM project_milestone AS m "
                "JOIN project_work AS w ON w.id = m.project "
                "JOIN sale_sale AS s ON s.id = w.sale "
                "WHERE m.amount_type = 'fixed' AND m.state != 'cancelled' "
                "AND s.untaxed_amount_cache IS NOT NULL "
                "GROUP BY w.id, s.untaxed_amount_cache "
                "HAVING SUM(m.fixed_amount) > s.untaxed_amount_cache"))
        check('conversions: one sale per opportunity', _rows(connection,
                "SELECT origin, COUNT(*) FROM sale_sale "
                "WHERE origin LIKE 'sale.opportunity,%%' "
                "GROUP BY origin HAVING COUNT(*) > 1"))
        check('conversions: every converted opportunity has its sale',
            _rows(connection,
                "SELECT o.id FROM sale_opportunity AS o "
                "WHERE o.state = 'converted' AND NOT EXISTS ("
                "SELECT 1 FROM sale_sale AS s "
                "WHERE s.origin = 'sale.opportunity,' || o.id)"))
        names = sorted(shared.new_parties)
        counts = dict(_rows(connection,
                'SELECT name, COUNT(*) FROM party_party '
                'WHERE name = ANY(%s) GROUP BY name', names))
        check('New Contact: one organisation each',
            [(n, counts.get(n, 0)) for n in names if counts.get(n) != 1])

        sums = {r[0]: r[1:] for r in _rows(connection,
                "SELECT i.id, "
                "(SELECT COALESCE(SUM(ROUND("
                "CAST(l.quantity AS NUMERIC) * l.unit_price, 2)), 0) "
                "FROM account_invoice_line AS l "
                "WHERE l.invoice = i.id AND l.type = 'line'), "
                "(SELECT COALESCE(SUM(t.amount), 0) "
                "FROM account_invoice_tax AS t WHERE t.invoice = i.id), "
                "(SELECT COALESCE(SUM(t.base), 0) "
                "FROM account_invoice_tax AS t WHERE t.invoice = i.id), "
                "i.untaxed_amount_cache, i.tax_amount_cache, "
                "i.total_amount_cache "
                "FROM account_invoice AS i WHERE i.id > %s",
                before['invoice'])}
    wrong = []
    for invoice, (lines, taxes, base, untaxed_c, tax_c, total_c) in sorted(
            sums.items()):
        server = server_totals.get(invoice)
        expected = (float(lines), float(taxes), float(lines + taxes))
        cached = (untaxed_c, tax_c, total_c)
        if server is None or any(abs(a - b) > 0.001
                for a, b in zip(server, expected)):
            wrong.append((invoice, 'server', server, expected))
        elif base != lines:
            # every line of a milestone's invoice bears the tax
            wrong.append((invoice, 'tax base', base, lines))
        elif any(c is not None and abs(float(c) - e) > 0.001
                for c, e in zip(cached, expected)):
            wrong.append((invoice, 'cache', cached, expected))
    checks['invoices: totals = lines + taxes, taxes on all lines'] = (
        len(wrong), [list(map(str, w)) for w in wrong[:5]])
    checks['invoices: checked'] = (0, [str(len(sums))])
    return checks


def server_totals(stack, database, invoice_ids):
    "The totals of the invoices as accounting reads them"
    if not invoice_ids:
        return {}
    client = Client.from_url(stack.url, database, 'buchhaltung', PASSWORD,
        timeout=REQUEST_TIMEOUT)
    totals = {}
    for start in range(0, len(invoice_ids), 200):
        for values in client.model('account.invoice', 'read',
                invoice_ids[start:start + 200],
                ['untaxed_amount', 'tax_amount', 'total_amount']):
            totals[values['id']] = tuple(number(values[k]) for k in [
                    'untaxed_amount', 'tax_amount', 'total_amount'])
    return totals


def _max_id(pg_uri, database, table):
    with serve_prod.pg_connect(pg_uri, database) as connection:
        return connection.execute(
            f'SELECT COALESCE(MAX(id), 0) FROM "{table}"').fetchone()[0]


def _new_ids(pg_uri, database, table, after):
    with serve_prod.pg_connect(pg_uri, database) as connection:
        return [r[0] for r in connection.execute(
                f'SELECT id FROM "{table}" WHERE id > %s ORDER BY id',
                (after,))]


# Figures


def percentile(values, share):
    if not values:
        return None
    values = sorted(values)
    index = min(len(values) - 1, max(0, round(share * len(values)) - 1))
    return values[index]


def figures(samples, seconds):
    "Requests per second, p50, p95, errors and refusals of samples"
    latencies = [s for _, s, r in samples if r != 'error']
    return {
        'requests': len(samples),
        'rps': round(len(samples) / seconds, 2) if seconds else None,
        'p50_ms': round(1000 * statistics.median(latencies), 1)
        if latencies else None,
        'p95_ms': round(1000 * percentile(latencies, .95), 1)
        if latencies else None,
        'errors': sum(1 for _, _, r in samples if r == 'error'),
        'refused': sum(1 for _, _, r in samples if r == 'refused'),
        }


def play(pg_uri, template, workers, duration, users, port, copy=True,
        projects=PROJECTS, directory=None, log=print):
    """Copy template (or use it without copy), prepare, serve it with
    workers processes and play users for duration seconds; return the
    figures and invariants. The copy is dropped."""
    database = f'{template}_run{workers}' if copy else template
    result = {'workers': workers, 'users': users, 'duration': duration,
        'database': database}
    started = time.monotonic()
    if copy:
        copy_database(pg_uri, template, database)
    try:
        data = prepare(pg_uri, database, projects)
        result['prepare_s'] = round(time.monotonic() - started, 1)
        before = {'invoice': _max_id(pg_uri, database, 'account_invoice')}
        shared = Shared(data)
        recorder = Recorder()
        stack = serve_prod.Stack(pg_uri, database, workers=workers,
            port=port, directory=directory and Path(directory) / database)
        began = time.monotonic()
        with stack:
            result['stack_start_s'] = round(time.monotonic() - began, 1)
            roles = [ROLES[i % len(ROLES)] for i in range(users)]
            players = []
            for index, login in enumerate(roles):
                player = USERS[login](index, stack, database, recorder,
                    shared, seed=2026 + index)
                player.warm_up()
                players.append(player)
            log(f"[{workers} worker(s)] {users} users logged in "
                f"({', '.join(f'{roles.count(r)} {r}' for r in USERS)}); "
                f"playing {duration} s")
            cpu = CPU(stack.processes['web'].pid)
            cpu.start()
            clock = time.monotonic()
            deadline = clock + duration
            threads = [threading.Thread(target=p.run, args=(deadline,),
                    daemon=True) for p in players]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=max(
                        deadline + REQUEST_TIMEOUT * 6 - time.monotonic(), 1))
            elapsed = time.monotonic() - clock
            result['cpu'] = cpu.stop()
            hung = sum(t.is_alive() for t in threads)
            samples = list(recorder.samples)
            if hung:
                recorder.add('run', 0, 'error',
                    f"{hung} users still waiting at the end")
                samples = list(recorder.samples)
            totals = server_totals(stack, database, _new_ids(
                    pg_uri, database, 'account_invoice', before['invoice']))
            queue = _rows_count(pg_uri, database)
            stopping = time.monotonic()
        result['stop_s'] = round(time.monotonic() - stopping, 1)
        result['elapsed_s'] = round(elapsed, 1)
        result['overall'] = figures(samples, elapsed)
        kinds = defaultdict(list)
        for sample in samples:
            kinds[sample[0]].append(sample)
        result['kinds'] = {kind: figures(s, elapsed)
            for kind, s in sorted(kinds.items())}
        result['error_samples'] = recorder.errors
        result['refusals'] = dict(sorted(recorder.refusals.items()))
        result['done'] = {
            'e-mails accepted': len(shared.delivered),
            'new organisations': len(shared.new_parties),
            'opportunities converted': len(shared.converted),
            'milestones created': len(shared.milestones),
            'invoices': len(totals),
            'queue tasks left': queue,
            }
        result['invariants'] = check_invariants(
            pg_uri, database, shared, before, totals)
    finally:
        if copy:
            drop_database(pg_uri, database)
    return result


def _rows_count(pg_uri, database):
    with serve_prod.pg_connect(pg_uri, database) as connection:
        return connection.execute(
            'SELECT COUNT(*) FROM ir_queue WHERE dequeued_at IS NULL'
            ).fetchone()[0]


def summary(result):
    "The lines to print for a run"
    overall = result['overall']
    lines = [
        f"== {result['workers']} worker process(es), {result['users']} "
        f"users, {result['elapsed_s']} s: {overall['requests']} requests, "
        f"{overall['rps']} requests/s, p50 {overall['p50_ms']} ms, "
        f"p95 {overall['p95_ms']} ms, {overall['errors']} errors, "
        f"{overall['refused']} business refusals",
        f"   {'kind':<24} {'requests':>8} {'req/s':>7} {'p50 ms':>8} "
        f"{'p95 ms':>8} {'errors':>6} {'refused':>7}",
        ]
    if result.get('cpu'):
        cpu = result['cpu']
        lines.append(f"   processor (cores of {cpu['cores']:.0f}): "
            f"{cpu['busy']} busy = web processes {cpu['web']} + load "
            f"generator {cpu['load_generator']} + PostgreSQL, cron, worker "
            f"and the rest {cpu['rest']}")
    for kind, f in result['kinds'].items():
        lines.append(f"   {kind:<24} {f['requests']:>8} {f['rps']:>7} "
            f"{f['p50_ms']!s:>8} {f['p95_ms']!s:>8} {f['errors']:>6} "
            f"{f['refused']:>7}")
    lines.append("   done: " + ', '.join(
            f"{v} {k}" for k, v in result['done'].items()))
    for refusal, count in result['refusals'].items():
        lines.append(f"   refused {count} x {refusal}")
    for error in result['error_samples'][:10]:
        lines.append(f"   ERROR {error}")
    broken = 0
    for name, (count, examples) in result['invariants'].items():
        if name == 'invoices: checked':
            continue
        broken += bool(count)
        lines.append(f"   invariant {'OK ' if not count else 'BROKEN'} "
            f"{name}" + (f": {count} {examples}" if count else ''))
    lines.append(f"   invariants: {broken} broken of "
        f"{len(result['invariants']) - 1}; "
        f"{result['invariants']['invoices: checked'][1][0]} invoices "
        "checked")
    return lines


def broken_invariants(result):
    return [name for name, (count, _) in result['invariants'].items()
        if count]


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--database', default='crm_load',
        help="the demo database to copy (built when missing)")
    parser.add_argument('--pg-uri', default=serve_prod.default_pg_uri())
    parser.add_argument('--workers', type=int, nargs='+', default=[1, 2],
        help="the worker processes of each run (default: 1 2)")
    parser.add_argument('--duration', type=int, default=120,
        help="seconds of each run (default: 120)")
    parser.add_argument('--users', type=int, default=12,
        help="virtual users (default: 12)")
    parser.add_argument('--port', type=int, default=8100)
    parser.add_argument('--small', action='store_true',
        help="build the small demo (a dozen customers)")
    parser.add_argument('--output', default=str(ROOT / 'var' / 'load.json'))
    args = parser.parse_args()

    started = time.monotonic()
    if serve_prod.build_database(args.pg_uri, args.database,
            small=args.small):
        print(f"Demo database {args.database} built in "
            f"{time.monotonic() - started:.0f} s", flush=True)
    else:
        print(f"Demo database {args.database} exists: copied for each run "
            f"(dropdb {args.database} rebuilds it)", flush=True)
    report = {
        'date': dt.datetime.now(dt.UTC).isoformat(
            timespec='seconds'),
        'cores': os.cpu_count(),
        'database': args.database,
        'runs': [],
        }
    for workers in args.workers:
        result = play(args.pg_uri, args.database, workers, args.duration,
            args.users, args.port,
            log=lambda line: print(line, flush=True))
        report['runs'].append(result)
        print('\n'.join(summary(result)), flush=True)
    rates = {r['workers']: r['overall']['rps'] for r in report['runs']}
    if 1 in rates and 2 in rates and rates[1]:
        report['ratio_2_to_1'] = round(rates[2] / rates[1], 2)
        print(f"== throughput 2 workers / 1 worker: "
            f"{report['ratio_2_to_1']} (target 1.4)")
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(f"== written to {output}")
    failed = any(r['overall']['errors'] or broken_invariants(r)
        for r in report['runs'])
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
