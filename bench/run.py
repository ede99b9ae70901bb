"""Measure the CRM lists, the timeline and the jobs at two database sizes

On PostgreSQL, for each size (customers; 2,000 and 20,000 by default), in
a process of its own, a database of its own (bench_crm_<size>, dropped at
the end unless --keep) is built: the modules crm_lifecycle, crm_projects
and crm_service activated (Tryton's DB_CACHE, kept in var/bench-cache per
version of the code), the data of bench/data.py loaded set-based, the
stored data derived from the documents refreshed (REFRESHES:
Timeline.rebuild(), Party.refresh_crm_figures(None), ... when the modules
have them) and the database analyzed. The time of each step is reported.

Then, in one transaction that is rolled back, each measure runs once to warm
up and REPEAT times (median reported, with the SQL queries of one run),
next to vanilla Tryton and to raw SQL returning the same rows:

1. timeline page: the web client's list of crm.timeline of the customer
   with 10,000 entries, first page and offset 4,000, 80 rows: search,
   search_count (sao counts when the page is full) and read of the fields
   of the list view as sao asks them (relations with .rec_name, selections
   with :string, rec_name, _timestamp, _write, _delete); vanilla: the same
   for the customer's crm.activity; raw: the same rows and count from the
   timeline table (or its table query).
2. customer list: the Customers tab of the CRM customer list (its domain),
   80 rows, the fields of its list view plus the key figures; the same
   sorted by crm_orders_year_amount and crm_last_contact (when sortable);
   vanilla: the Parties list (party_view_tree); raw: the same parties'
   names, computing the sorted figure from the documents.
3. service queue: the SLA tab domains of the ticket list, 80 rows, fields of
   its list view; vanilla: the same read of the first 80 tickets by id;
   raw: the same rows and count.
4. lifecycle recompute of all customers, run once, against one UPDATE of
   the same rows: with 1 % of the stored lifecycles stale (the use case:
   only they are rewritten), and over the history as loaded (every
   customer rewritten).
5. the jobs Sale.plan_quotation_followups and Party.mark_dormant (each run
   rolled back to a savepoint).

The lists run with access checks, as the RPC calls of the web client; the
jobs without, as the cron. Prints a table per size, ratios (to vanilla and
to raw SQL) and the growth from the smallest to the largest size (also per
record for 4 and 5, whose work grows with the data: customers, quotations);
writes var/bench.json with every run's time, the fields read and the
machine's load average (it is shared).

PostgreSQL only: --pg-uri or TRYTOND_DATABASE_URI (postgresql://user@/).
"""
import argparse
import datetime
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
MODULES = ['crm_lifecycle', 'crm_projects', 'crm_service']
DB_PREFIX = 'bench_crm_'
PAGE = 80
DEEP_OFFSET = 4000
SORTS = ['crm_orders_year_amount', 'crm_last_contact']
# The key figures of the customer list (those the party has)
FIGURES = [
    'crm_last_contact', 'crm_next_activity', 'crm_next_activity_date',
    'crm_open_opportunities', 'crm_open_opportunity_amount',
    'crm_open_quotations', 'crm_open_quotation_amount',
    'crm_orders_year_amount', 'crm_open_tickets', 'crm_sla_breaches',
    'crm_active_projects', 'crm_hours_30_days', 'crm_next_milestone_date',
    'crm_milestones_unpaid',
    ]
# The stored data derived from the documents, which the SQL load bypasses:
# the first (model, method, arguments) of each line that the modules have
REFRESHES = [
    [('sale.sale', '_fill_quotation_expire', ())],
    [('crm.timeline', 'rebuild', ())],
    [('party.party', 'refresh_crm_figures', (None,)),
        ('crm.party.figures', 'refresh', (None,))],
    ]
# The SLA tabs of the ticket list
TICKET_TABS = ['act_ticket_form_domain_breached',
    'act_ticket_form_domain_at_risk']


# Measuring

def fresh_transaction():
    """Forget the records read, as each RPC call of the web client runs in
    a transaction of its own (the server's caches stay warm)"""
    from trytond.transaction import Transaction
    transaction = Transaction()
    for cache in transaction.cache.values():
        cache.clear()
    transaction.counter += 1


def measure(function, repeat):
    "Run function once to warm up, then repeat times: median and queries"
    from trytond.modules.crm_lifecycle.tests.tools import count_queries
    fresh_transaction()
    function()
    durations = []
    for _ in range(repeat):
        fresh_transaction()
        with count_queries() as queries:
            start = time.perf_counter()
            function()
            durations.append(time.perf_counter() - start)
    return {
        'ms': round(statistics.median(durations) * 1000, 2),
        'queries': len(queries),
        'runs_ms': [round(d * 1000, 2) for d in durations],
        }


def measure_once(function):
    from trytond.modules.crm_lifecycle.tests.tools import count_queries
    with count_queries() as queries:
        start = time.perf_counter()
        result = function()
        duration = time.perf_counter() - start
    return {'ms': round(duration * 1000, 2), 'queries': len(queries)}, result


class savepoint:
    "Roll back what the block did, the transaction's caches with it"

    def __enter__(self):
        from trytond.transaction import Transaction
        Transaction().connection.cursor().execute('SAVEPOINT bench')

    def __exit__(self, *exc):
        from trytond.transaction import Transaction
        transaction = Transaction()
        transaction.connection.cursor().execute(
            'ROLLBACK TO SAVEPOINT bench')
        fresh_transaction()


def run_sql(*queries):
    "Execute the queries and fetch their rows"
    from trytond.transaction import Transaction
    cursor = Transaction().connection.cursor()
    rows = []
    for query in queries:
        # a python-sql query or (SQL, parameters)
        cursor.execute(*query)
        rows.append(cursor.fetchall())
    return rows


# What the web client asks

def sao_fields(fields):
    """Return the names sao reads for a list of fields_view_get's fields:
    all are eager in a tree view (Sao.Screen.add_view, Sao.Record.load)"""
    names = list(fields)
    for name, description in fields.items():
        if description['type'] in {'many2one', 'one2one', 'reference'}:
            names.append(f'{name}.rec_name')
        elif description['type'] in {'selection', 'multiselection'}:
            names.append(f'{name}:string')
    if 'rec_name' not in names:
        names.append('rec_name')
    return names + ['_timestamp', '_write', '_delete']


def view_fields(Model, xml_id):
    "Return fields_view_get's fields of the tree view module.xml_id"
    from trytond.pool import Pool
    ModelData = Pool().get('ir.model.data')
    module, fs_id = xml_id.split('.')
    return dict(Model.fields_view_get(
            view_id=ModelData.get_id(module, fs_id),
            view_type='tree')['fields'])


def tab_domain(xml_id):
    "Return the domain of the ir.action.act_window.domain module.xml_id"
    from trytond.pool import Pool
    from trytond.pyson import PYSONDecoder
    pool = Pool()
    ModelData = pool.get('ir.model.data')
    Domain = pool.get('ir.action.act_window.domain')
    module, fs_id = xml_id.split('.')
    try:
        id_ = ModelData.get_id(module, fs_id)
    except Exception:
        return None
    return PYSONDecoder().decode(Domain(id_).domain or '[]')


def list_page(Model, domain, names, offset=0, order=None):
    "One page of a list as sao loads it: search, count when full, read"
    records = Model.search(domain, offset=offset, limit=PAGE, order=order)
    if len(records) == PAGE:
        Model.search_count(domain, 0, PAGE * 100 + offset)
    return Model.read([r.id for r in records], names)


def sql_where(table, domain):
    "The python-sql condition of a domain of '=' and 'in' clauses"
    from sql import Column, Literal
    condition = Literal(True)
    for name, operator, value in domain:
        column = Column(table, name)
        condition &= column.in_(value) if operator == 'in' else (
            column == value)
    return condition


def sql_page(table, columns, where, order_by, offset=0):
    "The raw SQL of a page and of sao's count"
    from sql.aggregate import Count
    capped = table.select(table.id, where=where, limit=PAGE * 100 + offset)
    return (table.select(*columns, where=where, order_by=order_by,
            limit=PAGE, offset=offset),
        capped.select(Count()))


def stored_columns(Model, table, names=None):
    "The columns of the stored fields (of names) of Model"
    from sql import Column
    from trytond.model import fields
    magic = {'create_uid', 'create_date', 'write_uid', 'write_date'}
    return [Column(table, n) for n, f in Model._fields.items()
        if not isinstance(f, fields.Function) and n not in magic
        and (names is None or n in names or n == 'id')]


def compare(crm, vanilla=None, raw=None, **extra):
    "A measure with its references and ratios"
    result = {'crm': crm, 'vanilla': vanilla, 'raw': raw, **extra}
    if crm and 'ms' in crm:
        if vanilla:
            result['x_vanilla'] = round(crm['ms'] / vanilla['ms'], 2)
        if raw:
            result['x_raw'] = round(crm['ms'] / raw['ms'], 2)
    return result


# The measures

def timeline_pages(heavy, repeat):
    "1. The heavy customer's timeline against its activities"
    from trytond.pool import Pool
    pool = Pool()
    Timeline = pool.get('crm.timeline')
    Activity = pool.get('crm.activity')
    timeline_names = sao_fields(
        view_fields(Timeline, 'crm_lifecycle.timeline_view_list'))
    activity_names = sao_fields(
        view_fields(Activity, 'crm_lifecycle.activity_view_list'))
    domain = [('party', '=', heavy)]
    table = Timeline.__table__()
    columns = stored_columns(Timeline, table)
    results = {}
    for offset in [0, DEEP_OFFSET]:
        results[f'timeline_page_{offset}'] = compare(
            measure(partial(list_page,
                    Timeline, domain, timeline_names, offset), repeat),
            measure(partial(list_page,
                    Activity, domain, activity_names, offset), repeat),
            measure(partial(run_sql, *sql_page(table, columns,
                        table.party == heavy,
                        [table.date.desc, table.id.desc], offset)), repeat),
            rows=PAGE, entries=Timeline.search_count(domain),
            fields=timeline_names, vanilla_fields=activity_names,
            table_query=Timeline._is_table_query())
    return results


def customer_lists(repeat):
    "2. The CRM customer list with key figures against the party list"
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    pool = Pool()
    Party = pool.get('party.party')
    domain = tab_domain('crm_lifecycle.act_party_crm_domain_customer')
    fields = view_fields(Party, 'crm_lifecycle.party_view_list_crm')
    added = [n for n in FIGURES if n in Party._fields and n not in fields]
    fields.update(Party.fields_get(added))
    crm_names = sao_fields(fields)
    vanilla_names = sao_fields(view_fields(Party, 'party.party_view_tree'))
    table = Party.__table__()
    where = sql_where(table, domain)
    company = Transaction().context['company']

    vanilla = measure(partial(list_page, Party, [], vanilla_names), repeat)
    results = {'customer_list': compare(
            measure(partial(list_page, Party, domain, crm_names), repeat),
            vanilla,
            measure(partial(run_sql, *sql_page(table, [table.id, table.name],
                        where, [table.name.asc, table.id.asc])), repeat),
            rows=PAGE, customers=Party.search_count(domain),
            domain=domain, fields=crm_names, figures_not_in_view=added,
            vanilla_fields=vanilla_names)}
    for name in SORTS:
        order = [(name, 'DESC')]
        try:
            with savepoint():
                Party.search(domain, limit=1, order=order)
        except Exception as exception:
            results[f'customer_list_by_{name}'] = {
                'crm': {'not_sortable': str(exception).splitlines()[0]}}
            continue
        results[f'customer_list_by_{name}'] = compare(
            measure(partial(list_page,
                    Party, domain, crm_names, order=order), repeat),
            vanilla,
            measure(partial(run_sql,
                    *_sorted_customers_sql(name, domain, company)), repeat),
            rows=PAGE)
    return results


def _sorted_customers_sql(name, domain, company):
    """The raw SQL of the customers sorted by the figure name, the figure
    computed from the documents, and of their count"""
    from trytond.pool import Pool
    pool = Pool()
    Party = pool.get('party.party')
    Date = pool.get('ir.date')
    year = Date.today().year
    stages = [v for f, _, v in domain if f == 'lifecycle_stage']
    order_states = Party._lifecycle_order_states()
    if name == 'crm_orders_year_amount':
        figure = """SELECT s.party, SUM(l.quantity::numeric * l.unit_price)
            AS value FROM sale_sale AS s
            JOIN sale_line AS l ON l.sale = s.id AND l.type = 'line'
            WHERE s.company = %s AND s.state = ANY(%s)
                AND s.sale_date BETWEEN %s AND %s GROUP BY s.party"""
        params = [company, order_states, datetime.date(year, 1, 1),
            datetime.date(year, 12, 31)]
    else:
        figure = """SELECT party, MAX(date) AS value FROM crm_activity
            WHERE company = %s AND state = 'done' GROUP BY party"""
        params = [company]
    page = ("SELECT p.id, p.name, f.value FROM party_party AS p "
        f"LEFT JOIN ({figure}) AS f ON f.party = p.id "
        "WHERE p.lifecycle_stage = ANY(%s) "
        "ORDER BY f.value DESC NULLS LAST, p.id LIMIT %s")
    count = ("SELECT COUNT(*) FROM (SELECT 1 FROM party_party "
        "WHERE lifecycle_stage = ANY(%s) LIMIT %s) AS c")
    return ((page, params + [stages, PAGE]),
        (count, [stages, PAGE * 100]))


def service_queues(repeat):
    "3. The SLA tabs of the ticket list against the first tickets by id"
    from trytond.pool import Pool
    pool = Pool()
    Ticket = pool.get('service.ticket')
    fields = view_fields(Ticket, 'crm_service.ticket_view_list')
    names = sao_fields(fields)
    table = Ticket.__table__()
    columns = stored_columns(Ticket, table, fields)
    vanilla = measure(partial(list_page,
            Ticket, [], names, order=[('id', 'ASC')]), repeat)
    results = {}
    for tab in TICKET_TABS:
        domain = tab_domain(f'crm_service.{tab}')
        if domain is None:
            continue
        results[f'service_queue_{tab.rsplit("_domain_", 1)[1]}'] = compare(
            measure(partial(list_page, Ticket, domain, names), repeat),
            vanilla,
            measure(partial(run_sql, *sql_page(table, columns,
                        sql_where(table, domain),
                        [table.reported_date.desc, table.id.desc])), repeat),
            rows=PAGE, tickets=Ticket.search_count(domain),
            domain=domain, fields=names)
    return results


def lifecycle_recompute(parties):
    """4. Recompute the stage of all customers, against one UPDATE of the
    same rows: first over the history as loaded (it differs from what the
    documents say: every customer is rewritten), then again with the
    history derived and the stored lifecycle of 1 % of the customers gone
    stale (what a recompute meets in use)"""
    from sql import Literal
    from trytond.pool import Pool
    pool = Pool()
    Party = pool.get('party.party')
    History = pool.get('crm.lifecycle.history')
    table = Party.__table__()
    history = History.__table__()
    party_ids = [p.id for p in parties]
    stale = party_ids[::100]
    # the records are made before: with Python's assertions on, browse
    # checks all the ids for each record (quadratic)
    with savepoint():
        full, _ = measure_once(
            partial(Party.recompute_lifecycle_stage, parties))
        run_sql(
            history.delete(where=history.party.in_(stale),
                returning=[Literal(1)]),
            table.update([table.lifecycle_stage], ['contact'],
                where=table.id.in_(stale), returning=[Literal(1)]))
        crm, _ = measure_once(
            partial(Party.recompute_lifecycle_stage, parties))
        # the stale customers were rewritten, and only they
        history_rows = run_sql(history.select(
                history.party, where=history.party.in_(stale)))[0]
        assert {p for p, in history_rows} >= set(stale), \
            "the recompute left stale customers"
    with savepoint():
        raw, _ = measure_once(lambda: run_sql(table.update(
                    [table.lifecycle_stage], [table.lifecycle_stage],
                    where=table.id.in_(party_ids),
                    returning=[Literal(1)])))
    return {
        'lifecycle_recompute': compare(crm, None, raw,
            records=len(party_ids), stale=len(stale)),
        'lifecycle_recompute_all_rewritten': compare(full, None, raw,
            records=len(party_ids)),
        }


def jobs(repeat):
    "5. The cron jobs, each run rolled back"
    from trytond.pool import Pool
    pool = Pool()
    Sale = pool.get('sale.sale')
    Party = pool.get('party.party')
    results = {}

    def run(job, work):
        timings = []
        for _ in range(repeat + 1):
            with savepoint():
                timing, _ = measure_once(job)
                done = work()
            timings.append(timing)
        timings = timings[1:]
        return {
            'ms': statistics.median(t['ms'] for t in timings),
            'queries': timings[-1]['queries'],
            'runs_ms': [t['ms'] for t in timings],
            }, done

    quotations = Sale.search_count(Sale._quotation_followup_domain())
    crm, planned = run(Sale.plan_quotation_followups,
        lambda: Sale.search_count([
                ('state', '=', 'quotation'),
                ('crm_quotation_followup', '!=', None)]))
    results['job_plan_quotation_followups'] = compare(
        crm, records=quotations, done=planned)

    customers = Party.search_count([('lifecycle_stage', '=', 'customer')])
    crm, dormant = run(Party.mark_dormant, lambda: Party.search_count(
            [('lifecycle_stage', '=', 'dormant')]))
    results['job_mark_dormant'] = compare(
        crm, records=customers, done=dormant)
    return results


# One size, in a process of its own

def in_transaction(function):
    """Run function in a transaction and commit, again when Tryton asks to
    lock tables first (as with_transaction does)"""
    from trytond.tests.test_tryton import DB_NAME, USER
    from trytond.transaction import Transaction, TransactionError
    extras = {}
    while True:
        with Transaction().start(
                DB_NAME, USER, context={}, **extras) as transaction:
            try:
                result = function()
            except TransactionError as error:
                transaction.rollback()
                error.fix(extras)
                continue
            transaction.commit()
            return result


def timed(timings, name, function):
    "Run function in a transaction, its seconds in timings[name]"
    started = time.perf_counter()
    result = in_transaction(function)
    timings[name] = round(time.perf_counter() - started, 1)
    return result


def _find_method(alternatives):
    "Return the first (model, method, args) that the modules have"
    from trytond.pool import Pool
    pool = Pool()
    for model, method, args in alternatives:
        try:
            Model = pool.get(model)
        except KeyError:
            continue
        if hasattr(Model, method):
            return model, method, args


def _call_as_company(company, model, method, args):
    from trytond.modules.company.tests import set_company
    from trytond.pool import Pool
    pool = Pool()
    Company = pool.get('company.company')
    with set_company(Company(company)):
        getattr(pool.get(model), method)(*args)


def build(size):
    "Build the database of size customers; return the timings and counts"
    import data
    from trytond.tests.test_tryton import DB_NAME, activate_module

    timings = {}
    started = time.perf_counter()
    activate_module(MODULES)
    timings['activation'] = round(time.perf_counter() - started, 1)
    ids = timed(timings, 'company', data.setup_company)
    counts = timed(timings, 'data', lambda: data.load(size, ids))

    for alternatives in REFRESHES:
        found = in_transaction(partial(_find_method, alternatives))
        if found:
            model, method, args = found
            timed(timings, f'{model}.{method}', partial(
                    _call_as_company, ids['company'], model, method, args))

    started = time.perf_counter()
    analyze(DB_NAME)
    timings['analyze'] = round(time.perf_counter() - started, 1)
    timings['build'] = round(sum(
            v for k, v in timings.items() if k != 'activation'), 1)
    return timings, counts


def analyze(database_name):
    "VACUUM ANALYZE the database, as autovacuum would after the load"
    from trytond import backend
    database = backend.Database(database_name).connect()
    connection = database.get_connection(autocommit=True)
    try:
        connection.cursor().execute('VACUUM ANALYZE')
    finally:
        database.put_connection(connection)


def run_size(size, repeat):
    "Build and measure one size; return its results"
    import data
    from trytond.pool import Pool
    from trytond.tests.test_tryton import DB_NAME, USER
    from trytond.transaction import Transaction

    timings, counts = build(size)
    print(f"{size:,} customers built in {timings['build']} s "
        f"({_steps(timings)})", file=sys.stderr, flush=True)
    results = {}
    with Transaction().start(DB_NAME, USER, context={}) as transaction:
        pool = Pool()
        User = pool.get('res.user')
        Party = pool.get('party.party')
        heavy, = Party.search([('code', '=', data.HEAVY_CODE)])
        customers = Party.search([('code', 'like', 'BENCH-%')],
            order=[('id', 'ASC')])
        with transaction.set_context(User.get_preferences(context_only=True)):
            # the lists as the web client's RPC calls: with access checks
            with transaction.set_context(_check_access=True):
                for step in [
                        lambda: timeline_pages(heavy.id, repeat),
                        lambda: customer_lists(repeat),
                        lambda: service_queues(repeat)]:
                    results.update(step())
            results.update(lifecycle_recompute(customers))
            results.update(jobs(repeat))
        transaction.rollback()
    return {'customers': size, 'build_s': timings, 'rows': counts,
        'measures': results,
        'code_digest': Path(os.environ['DB_CACHE']).name,
        # the machine is shared: how busy it was
        'load_average': os.getloadavg()}


def _steps(timings):
    return ', '.join(f'{k} {v} s'
        for k, v in timings.items() if k != 'build')


# The run: each size in a process, then the report

def code_digest():
    "A digest of the modules' code and of the installed Tryton versions"
    digest = hashlib.sha1()
    for name in sorted(d.metadata['Name'] for d in
            importlib.metadata.distributions()
            if d.metadata['Name'].lower().startswith('trytond')):
        digest.update(f'{name}={importlib.metadata.version(name)}'.encode())
    for module in MODULES:
        spec = importlib.util.find_spec(f'trytond.modules.{module}')
        path = Path(list(spec.submodule_search_locations)[0])
        for file in sorted(path.rglob('*')):
            if (file.is_file() and 'tests' not in file.parts
                    and '__pycache__' not in file.parts):
                digest.update(str(file.relative_to(path)).encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def activation_cache():
    """Tryton's DB_CACHE folder for this version of the code (it keys on
    module names only); the caches of other versions are removed"""
    caches = ROOT / 'var' / 'bench-cache'
    cache = caches / code_digest()
    if caches.exists():
        for other in caches.iterdir():
            if other != cache:
                shutil.rmtree(other) if other.is_dir() else other.unlink()
    cache.mkdir(parents=True, exist_ok=True)
    return cache


def drop_database(pg_uri, name):
    import psycopg
    parts = urlsplit(pg_uri)
    with psycopg.connect(
            host=parts.hostname or None, port=parts.port or None,
            user=parts.username or None, password=parts.password or None,
            dbname='postgres', autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')


def run_sizes(args):
    results = {}
    databases = []
    try:
        for size in args.sizes:
            database = f'{DB_PREFIX}{size}'
            drop_database(args.pg_uri, database)
            databases.append(database)
            env = {**os.environ, 'TRYTOND_DATABASE_URI': args.pg_uri,
                'DB_NAME': database}
            with tempfile.NamedTemporaryFile(suffix='.json') as output:
                subprocess.run([sys.executable, __file__,
                        '--size', str(size), '--repeat', str(args.repeat),
                        '--output', output.name], env=env, check=True)
                results[size] = json.load(open(output.name))
    finally:
        if not args.keep:
            for database in databases:
                drop_database(args.pg_uri, database)
    return results


def growth(results):
    "Return {measure: growth} from the smallest to the largest size"
    small, large = results[min(results)], results[max(results)]
    growths = {}
    for name, measure in large['measures'].items():
        before = small['measures'].get(name, {})
        row = {}
        for variant in ['crm', 'vanilla', 'raw']:
            new, old = measure.get(variant) or {}, before.get(variant) or {}
            if 'ms' in new and 'ms' in old:
                row[variant] = round(new['ms'] / old['ms'], 2)
        if 'crm' in row and measure.get('records') and before.get('records'):
            row['crm_per_record'] = round(row['crm'] / (
                    measure['records'] / before['records']), 2)
        growths[name] = row
    return growths


def report(results, growths):
    "Print a table per size and the growth from the smallest to the largest"
    def cell(values, variant, width):
        value = values.get(variant) or {}
        if 'not_sortable' in value:
            return f'{"not sortable":>{width + 6}}'
        if 'ms' not in value:
            return ' ' * (width + 6)
        return f'{value["ms"]:{width}.1f} {value["queries"]:5}'

    def ratio(value):
        return f'{value:9.2f}' if value is not None else ' ' * 9

    for size, result in results.items():
        timings = result['build_s']
        print(f"\n== {size:,} customers: built in {timings['build']} s "
            f"({_steps(timings)})")
        print('   rows: ' + ', '.join(
                f'{t} {n:,}' for t, n in result['rows'].items()))
        print(f"{'measure':40} {'ms':>9} {'q':>5} {'vanilla':>9} {'q':>5}"
            f" {'raw SQL':>8} {'q':>5} {'x vanilla':>9} {'x raw':>9}")
        for name, values in result['measures'].items():
            print(f"{name:40} {cell(values, 'crm', 9)} "
                f"{cell(values, 'vanilla', 9)} {cell(values, 'raw', 8)} "
                f"{ratio(values.get('x_vanilla'))} "
                f"{ratio(values.get('x_raw'))}")
    if len(results) > 1:
        small, large = min(results), max(results)
        print(f"\n== growth from {small:,} to {large:,} customers "
            f"(x{large / small:g}): ms at {large:,} / ms at {small:,}")
        print(f"{'measure':40} {'ms':>9} {'ms':>9} {'growth':>9} "
            f"{'vanilla':>9} {'raw SQL':>9} {'per record':>10}")
        for name, row in growths.items():
            times = [(results[n]['measures'][name].get('crm') or {}).get(
                    'ms') for n in [small, large]]
            print(f"{name:40} " + ' '.join(
                    f'{t:9.1f}' if t is not None else ' ' * 9
                    for t in times) + ' ' + ' '.join(
                    ratio(row.get(k)) for k in ['crm', 'vanilla', 'raw'])
                + f" {ratio(row.get('crm_per_record'))}")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('--sizes', default='2000,20000',
        type=lambda s: [int(n) for n in s.split(',')],
        help="customers of each database (default: 2000,20000)")
    parser.add_argument('--repeat', type=int, default=7)
    parser.add_argument('--keep', action='store_true',
        help=f"keep the databases ({DB_PREFIX}<size>)")
    parser.add_argument('--pg-uri',
        default=os.environ.get('TRYTOND_DATABASE_URI'))
    parser.add_argument('--json', default=str(ROOT / 'var' / 'bench.json'))
    parser.add_argument('--size', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--output', help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.size:
        # the cache of the code this process runs (Tryton reads DB_CACHE
        # when imported)
        os.environ['DB_CACHE'] = str(activation_cache())
        result = run_size(args.size, args.repeat)
        with open(args.output, 'w') as output:
            json.dump(result, output, default=str)
        return 0

    if not (args.pg_uri or '').startswith('postgresql://'):
        parser.error("PostgreSQL is needed: --pg-uri postgresql://...")
    started = time.perf_counter()
    results = run_sizes(args)
    growths = growth(results)
    report(results, growths)
    digests = {r['code_digest'] for r in results.values()}
    if len(digests) > 1:
        print("\nWARNING: the code changed between the sizes "
            f"({', '.join(sorted(digests))})")
    head = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=ROOT,
        capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(['git', 'status', '--porcelain', 'addons'],
            cwd=ROOT, capture_output=True, text=True).stdout.strip())
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    with open(args.json, 'w') as output:
        json.dump({
                'date': datetime.datetime.now().isoformat(timespec='seconds'),
                'git_head': head, 'addons_modified': dirty,
                'code_digests': sorted(digests),
                'repeat': args.repeat, 'page': PAGE,
                'sizes': {str(k): v for k, v in results.items()},
                'growth': growths,
                }, output, indent=1, default=str)
    print(f"\n{args.json} written; whole run "
        f"{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == '__main__':
    sys.exit(main())
