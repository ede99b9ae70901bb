# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Exactly once under concurrent clicks (issue 9).

The real trytond server serves a database built by
tools/concurrency_data.py, on the backend of this test run
(TRYTOND_DATABASE_URI: SQLite by default, PostgreSQL in the PostgreSQL run
of tools/run_tests.sh). For each check-then-act of the suite, 20 JSON-RPC
clients (threads, 127.0.0.1 only) log in as the department user whose
button it is, wait at a barrier and press the button together. Each race
must have exactly one effect; the other clients get a refusal (a UserError
whose text is an ir.message of the database: the module's message or
Tryton's "You can not call ..." for a button whose states no longer
allow it), a no-op, or, on PostgreSQL only, a retriable 503 (the dispatcher
gave up retrying a serialization failure). Anything else (a traceback, a
500, a time-out, an untranslated message) fails the race. Each race prints
one summary line per backend.

The database is built once per module (test session); with DB_CACHE set
the builder restores the activation of the suite that another test of the
run cached (or caches its own for them), and the finished SQLite database
is kept there too, keyed by the code of the suite and of the builder.
Everything else runs over HTTP: the pytest process does not import
trytond's pool (its own test pool and configuration stay untouched)."""
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import secrets
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / '.venv' / 'bin'
sys.path.insert(0, str(ROOT / 'tools'))

from rpc_client import (  # noqa: E402
    Client,
    RPCError,
    decimal,
    message_pattern,
    outcome,
    post,
)
from serve_prod import pg_connect  # noqa: E402

CLIENTS = 20
# Bounds (every request: rpc_client): the wait at the barrier, the whole
# race
BARRIER_TIMEOUT = 60
RACE_TIMEOUT = 240
SUITE_MODULES = ['crm_lifecycle', 'crm_projects', 'crm_service']

DATABASE_URI = os.environ.get('TRYTOND_DATABASE_URI', 'sqlite://')
BACKEND = ('postgresql' if DATABASE_URI.startswith('postgresql')
    else 'sqlite')


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


# Set-up: the database and the server


def _check_database(name):
    "Skip (or fail) without server; the builder creates the database"
    if BACKEND == 'sqlite':
        return
    try:
        connection = pg_connect(DATABASE_URI)
    except Exception as exception:
        if os.environ.get('PG_REQUIRED') == '1':
            pytest.fail(f"PostgreSQL does not answer: {exception}")
        pytest.skip(f"PostgreSQL does not answer: {exception}")
    with connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _cache_file():
    """Return the SQLite file of DB_CACHE for the code of the suite and
    of the builder, or None. Like trytond's DB_CACHE, for repeated runs;
    tools/run_tests.sh clears it before each run."""
    cache = os.environ.get('DB_CACHE')
    if BACKEND != 'sqlite' or not cache or '://' in cache:
        return None
    digest = hashlib.sha256(importlib.metadata.version('trytond').encode())
    folders = [importlib.util.find_spec(f'trytond.modules.{m}')
        .submodule_search_locations[0] for m in SUITE_MODULES]
    files = [ROOT / 'tools' / 'concurrency_data.py'] + sorted(
        p for f in folders for p in Path(f).rglob('*')
        if p.is_file() and p.suffix in {'.py', '.xml', '.cfg'})
    for path in files:
        digest.update(str(path).encode() + path.read_bytes())
    return Path(cache) / f'concurrency-{digest.hexdigest()[:16]}.sqlite'


def _sqlite_copy(source, target):
    "Copy a SQLite database with what its write-ahead log holds"
    with sqlite3.connect(source) as origin, sqlite3.connect(target) as copy:
        origin.backup(copy)
    origin.close()
    copy.close()


def _drop_database(name):
    if BACKEND != 'postgresql':
        return
    with pg_connect(DATABASE_URI) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope='module', params=[BACKEND])
def server(request, tmp_path_factory):
    """Build the race database on the backend of the run and serve it with
    trytond; yield port, database, the ids of the records, an admin client
    and the texts of the suite's messages"""
    backend = request.param
    folder = tmp_path_factory.mktemp(f'race-{backend}')
    database = f'crm_race_{os.getpid()}' if backend == 'postgresql' \
        else 'race'
    port = _free_port()
    config = folder / 'trytond.conf'
    uri = DATABASE_URI if backend == 'postgresql' else 'sqlite://'
    config.write_text(
        f"[database]\nuri = {uri}\npath = {folder}\n"
        f"[web]\nlisten = 127.0.0.1:{port}\n"
        # the sessions of the clients live for the whole module
        "[session]\ntimeout = 3600\n")
    admin_password = secrets.token_urlsafe(12)
    password_file = folder / 'admin.password'
    password_file.write_text(admin_password + '\n')
    env = {**os.environ, 'TRYTOND_DATABASE__PATH': str(folder),
        'TRYTONPASSFILE': str(password_file)}
    for name in ['TRYTOND_DATABASE_URI', 'DB_NAME', 'DB_CACHE']:
        env.pop(name, None)

    started = time.monotonic()
    cache = _cache_file()
    _check_database(database)
    process = log = None
    try:
        ids_file = folder / 'ids.json'
        if cache and cache.with_suffix('.json').exists():
            _sqlite_copy(cache, folder / f'{database}.sqlite')
            ids_file.write_text(cache.with_suffix('.json').read_text())
            steps = f"    copied from {cache}\n"
        else:
            build = subprocess.run(
                [sys.executable,
                    str(ROOT / 'tools' / 'concurrency_data.py'),
                    '--config', str(config), '--database', database,
                    '--output', str(ids_file)],
                env={**env, **{k: os.environ[k] for k in ['DB_CACHE']
                        if k in os.environ}},
                cwd=ROOT, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True, timeout=2400)
            if build.returncode:
                pytest.fail(f"building the race database failed:\n"
                    f"{build.stdout[-6000:]}", pytrace=False)
            steps = ''.join(f"    {line}\n"
                for line in build.stdout.splitlines()
                if line.startswith('[+'))
            ids = json.loads(ids_file.read_text())
            ids['admin_password'] = admin_password
            ids_file.write_text(json.dumps(ids))
            if cache:
                cache.parent.mkdir(parents=True, exist_ok=True)
                # the database first: the ids tell that it is complete
                partial = cache.with_name(f'{cache.name}.{os.getpid()}')
                _sqlite_copy(folder / f'{database}.sqlite', partial)
                partial.replace(cache)
                partial = cache.with_name(f'{cache.stem}.json.{os.getpid()}')
                partial.write_text(ids_file.read_text())
                partial.replace(cache.with_suffix('.json'))
        built = time.monotonic() - started
        ids = json.loads(ids_file.read_text())

        log = (folder / 'trytond.log').open('w')
        process = subprocess.Popen(
            [str(BIN / 'trytond'), '-c', str(config), '-d', database],
            env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT)
        server = SimpleNamespace(
            backend=backend, port=port, database=database, ids=ids,
            folder=folder, log=folder / 'trytond.log', sessions={})
        for _ in range(300):
            if process.poll() is not None:
                pytest.fail("trytond stopped:\n"
                    + server.log.read_text()[-4000:], pytrace=False)
            try:
                server.admin = Client(server.port, server.database, 'admin',
                    ids['admin_password'])
                break
            except (OSError, RPCError):
                time.sleep(0.2)
        else:
            pytest.fail("trytond does not answer", pytrace=False)
        # A refusal is a message of the suite or of Tryton
        # (not the bare units "h", "%(value)s"...: they would match all)
        server.messages = [message_pattern(m) for m in ids['messages']
            if len(re.sub(r'%\(\w+\)[sdrf]', '', m)) >= 8]
        print(f"\n[{backend}] race database set up in {built:.0f} s "
            f"(server up after {time.monotonic() - started:.0f} s); "
            "steps:\n" + steps, flush=True)
        yield server
    finally:
        if process:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=20)
        if log:
            log.close()
        _drop_database(database)


# The race


def _outcome(server, status, data):
    """Classify the answer of one client: a UserError is a refusal only
    with a message of the suite or of Tryton"""
    kind, detail = outcome(status, data)
    if kind == 'user':
        if any(p.fullmatch(detail) for p in server.messages):
            return 'refused', detail
        return 'other', f'UserError without ir.message: {detail}'
    if kind == 'unavailable':
        return kind, None
    return kind, detail


def sessions(server, login, clients=CLIENTS):
    "Return clients sessions of login, logged in at once the first time"
    if login not in server.sessions:
        with ThreadPoolExecutor(max_workers=clients) as executor:
            server.sessions[login] = list(executor.map(
                    lambda i: Client(server.port, server.database, login,
                        server.ids['password']),
                    range(clients), timeout=RACE_TIMEOUT))
    return server.sessions[login]


def race(server, login, method, params, clients=CLIENTS):
    """Call method with params(i, context) as clients sessions of login at
    once; return the outcomes [(kind, detail, result)]"""
    barrier = threading.Barrier(clients, timeout=BARRIER_TIMEOUT)
    logged_in = sessions(server, login, clients)

    def client(i):
        session = logged_in[i]
        call_params = params(i, session.context)
        barrier.wait()
        try:
            status, data = session.request(method, call_params)
        except Exception as exception:
            return 'other', f'{type(exception).__name__}: {exception}', None
        kind, detail = _outcome(server, status, data)
        result = data.get('result') if isinstance(data, dict) else None
        return kind, detail, result
    return _run(client, clients)


def webhook_race(server, path, body, clients=CLIENTS):
    "POST the same body to path from clients at once"
    barrier = threading.Barrier(clients, timeout=BARRIER_TIMEOUT)

    def client(i):
        barrier.wait()
        try:
            status, data = post('127.0.0.1', server.port, path, body,
                {'Content-Type': 'application/octet-stream'})
        except Exception as exception:
            return 'other', f'{type(exception).__name__}: {exception}', None
        kind, detail = _outcome(server, status, data.decode(
                errors='replace'))
        return kind, detail, None
    return _run(client, clients)


def _run(client, clients):
    with ThreadPoolExecutor(max_workers=clients) as executor:
        futures = [executor.submit(client, i) for i in range(clients)]
        deadline = time.monotonic() + RACE_TIMEOUT
        outcomes = []
        for future in futures:
            try:
                outcomes.append(future.result(
                        timeout=max(deadline - time.monotonic(), 1)))
            except Exception as exception:
                outcomes.append((
                        'other', f'{type(exception).__name__}: {exception}',
                        None))
    return outcomes


def check(server, action, outcomes, effect, expected=1, started=None):
    """Print the summary of the race and assert its outcome: effect
    is the number of documents/changes made"""
    kinds = Counter(kind for kind, _, _ in outcomes)
    duration = f" in {time.monotonic() - started:.1f} s" if started else ''
    summary = (f"[{server.backend}] {action}: effect {effect} "
        f"(expected {expected}); " + ', '.join(
            f"{kinds[k]} {k}" for k in [
                'ok', 'refused', 'concurrency', 'unavailable', 'other']
            if kinds[k]) + duration)
    print(summary, flush=True)
    messages = Counter(d for k, d, _ in outcomes if k == 'refused')
    for message, count in messages.items():
        print(f"    {count} x {message}")
    others = [d for k, d, _ in outcomes if k == 'other']
    assert not others, f"{summary}\nunexpected errors:\n" + '\n'.join(
        others[:3])
    if server.backend == 'sqlite':
        assert not kinds['unavailable'], (
            f"{summary}\n503 on SQLite: write transactions are not "
            "serialized")
    assert effect == expected, summary
    return kinds


def _new_invoices(server, before):
    admin = server.admin
    return (
        admin.count('account.invoice', [('id', '>', before[0])]),
        admin.count('account.invoice.line', [('id', '>', before[1])]))


def _invoice_ids(server):
    admin = server.admin
    return (admin.max_id('account.invoice'),
        admin.max_id('account.invoice.line'))


def test_milestone_invoice(server):
    "20 x Create Invoice on one accepted milestone: one invoice"
    milestone = server.ids['milestone']
    before, started = _invoice_ids(server), time.monotonic()
    outcomes = race(server, 'projects', 'model.project.milestone.'
        'create_invoice', lambda i, ctx: [[milestone], ctx])
    invoices, lines = _new_invoices(server, before)
    # the milestone's invoice line bills the order's project service
    origin = server.admin.count('account.invoice.line', [
            ('id', '>', before[1]),
            ('origin', 'like', 'sale.line,%'),
            ])
    check(server, 'milestone Create Invoice', outcomes, invoices,
        started=started)
    assert (lines, origin) == (1, 1), (lines, origin)


def test_ticket_invoice_time(server):
    "20 x Invoice Time on a ticket with 1 h: one invoice line"
    ticket = server.ids['ticket_billable']
    before, started = _invoice_ids(server), time.monotonic()
    outcomes = race(server, 'service', 'model.service.ticket.invoice_time',
        lambda i, ctx: [[ticket], ctx])
    invoices, lines = _new_invoices(server, before)
    check(server, 'ticket Invoice Time', outcomes, lines, started=started)
    assert invoices == 1, invoices


def test_project_invoice(server):
    "20 x Invoice on a time-and-material project with 1 h: one invoice"
    project = server.ids['tm_project']
    before, started = _invoice_ids(server), time.monotonic()
    outcomes = race(server, 'projects', 'model.project.work.invoice',
        lambda i, ctx: [[project], ctx])
    invoices, lines = _new_invoices(server, before)
    check(server, 'project time-and-material Invoice', outcomes, lines,
        started=started)
    assert invoices == 1, invoices


def test_opportunity_convert(server):
    "20 x Convert on one opportunity: one sale"
    opportunity = server.ids['opportunity']
    started = time.monotonic()
    outcomes = race(server, 'sales', 'model.sale.opportunity.convert',
        lambda i, ctx: [[opportunity], ctx])
    sales = server.admin.count('sale.sale', [
            ('origin', '=', f'sale.opportunity,{opportunity}')])
    check(server, 'opportunity Convert', outcomes, sales, started=started)


def test_ticket_respond(server):
    "20 x Respond on a new ticket: one response activity"
    ticket = server.ids['ticket_respond']
    started = time.monotonic()
    outcomes = race(server, 'service', 'model.service.ticket.respond',
        lambda i, ctx: [[ticket], ctx])
    responses = server.admin.count('crm.activity', [
            ('resource', '=', f'service.ticket,{ticket}')])
    check(server, 'ticket Respond', outcomes, responses, started=started)


def test_ticket_hand_over(server):
    "20 x Hand over on a ticket: one opportunity"
    ticket = server.ids['ticket_hand_over']
    started = time.monotonic()
    outcomes = race(server, 'service', 'model.service.ticket.hand_over',
        lambda i, ctx: [[ticket], ctx])
    opportunities = server.admin.count('sale.opportunity', [
            ('crm_origin', '=', f'service.ticket,{ticket}')])
    check(server, 'ticket Hand over', outcomes, opportunities,
        started=started)


def test_milestone_share(server):
    """20 x create a 10 % milestone on an order without milestones: never
    more than 100 % of the order"""
    project = server.ids['share_project']
    started = time.monotonic()
    outcomes = race(server, 'projects', 'model.project.milestone.create',
        lambda i, ctx: [[{
                    'project': project, 'name': f"Share {i + 1}",
                    'amount_type': 'percentage',
                    'percentage': decimal('0.10')}], ctx])
    milestones = server.admin.model('project.milestone', 'search_read', [
            ('project', '=', project), ('state', '!=', 'cancelled')],
        0, None, None, ['percentage'])
    share = sum(float(m['percentage']['decimal']) if isinstance(
                m['percentage'], dict) else float(m['percentage'])
        for m in milestones)
    kinds = check(server, 'milestone creation against the order',
        outcomes, len(milestones),
        expected=min(len(milestones), 10), started=started)
    print(f"    {len(milestones)} milestones, {share * 100:.2f} % of the "
        "order")
    assert len(milestones) <= 10 and share <= 1.0000001, (
        f"{len(milestones)} milestones = {share * 100:.2f} % of the order")
    # Only the ones over 100 % may be refused (or retried out on
    # PostgreSQL)
    assert len(milestones) + kinds['unavailable'] >= 10, kinds


def test_sale_confirm(server):
    "20 x Confirm on one quotation with a project service: one project"
    sale = server.ids['quotation']
    started = time.monotonic()
    outcomes = race(server, 'sales', 'model.sale.sale.confirm',
        lambda i, ctx: [[sale], ctx])
    projects = server.admin.count('project.work', [
            ('sale', '=', sale), ('type', '=', 'project')])
    check(server, 'sale Confirm (project creation)', outcomes, projects,
        started=started)


def test_email_intake(server):
    "20 x the same e-mail (one Message-ID) to the inbox: one ticket"
    message_id = f'<race-{server.backend}-{os.getpid()}@race.example>'
    raw = (
        'From: Buyer <buyer@race.example>\r\n'
        'To: hotline@example.com\r\n'
        'Subject: Press stopped\r\n'
        f'Message-ID: {message_id}\r\n'
        '\r\n'
        'The press does not start.\r\n').encode()
    path = (f'/{server.database}/inbound_email/inbox/'
        f'{server.ids["inbox_identifier"]}')
    started = time.monotonic()
    outcomes = webhook_race(server, path, raw)
    tickets = server.admin.count('service.ticket', [
            ('message_id', '=', message_id)])
    check(server, 'e-mail intake (same Message-ID)', outcomes, tickets,
        started=started)


def test_lost_update(server):
    """20 x write one ticket with the same stale _timestamp: one write
    succeeds, the others get a ConcurrencyException"""
    ticket = server.ids['ticket_write']
    service = Client(server.port, server.database, 'service',
        server.ids['password'])
    timestamp, = service.model(
        'service.ticket', 'read', [ticket], ['_timestamp'])
    timestamp = timestamp['_timestamp']
    started = time.monotonic()
    outcomes = race(server, 'service', 'model.service.ticket.write',
        lambda i, ctx: [[ticket], {'description': f"Client {i}"}, {
                **ctx, '_timestamp': {f'service.ticket,{ticket}': timestamp},
                }])
    kinds = Counter(kind for kind, _, _ in outcomes)
    check(server, 'write with a stale _timestamp', outcomes, kinds['ok'],
        started=started)
    winner, = [i for i, (k, _, _) in enumerate(outcomes) if k == 'ok']
    description, = server.admin.model(
        'service.ticket', 'read', [ticket], ['description'])
    assert description['description'] == f"Client {winner}", description
    assert kinds['concurrency'] + kinds['unavailable'] == CLIENTS - 1, kinds


def test_ticket_numbers(server):
    "20 x create a ticket at once: 20 tickets, all numbers distinct"
    customer = server.ids['customer']
    started = time.monotonic()
    outcomes = race(server, 'service', 'model.service.ticket.create',
        lambda i, ctx: [[{
                    'party': customer, 'title': f"Race number {i + 1}"}],
            ctx])
    created = server.admin.count('service.ticket', [
            ('title', 'like', 'Race number %')])
    kinds = Counter(kind for kind, _, _ in outcomes)
    check(server, 'ticket creation (numbers)', outcomes, created,
        expected=CLIENTS - kinds['unavailable'], started=started)
    numbers = [t['number'] for t in server.admin.model(
            'service.ticket', 'search_read', [], 0, None, None, ['number'])]
    duplicates = {n: c for n, c in Counter(numbers).items() if c > 1}
    print(f"    {len(numbers)} tickets, {len(set(numbers))} numbers")
    assert all(numbers) and not duplicates, (
        f"duplicate ticket numbers: {duplicates}")
