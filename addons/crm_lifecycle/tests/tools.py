# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import json
import re
from collections import defaultdict
from contextlib import contextmanager

import trytond.config as config
from lxml import etree
from trytond import backend
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction


class _CountingCursor:

    def __init__(self, cursor, counter, statements=False):
        self._cursor = cursor
        self._counter = counter
        self._statements = statements

    def execute(self, *args, **kwargs):
        if self._statements:
            self._counter.append(args)
        else:
            self._counter.append(args[0] if args else None)
        return self._cursor.execute(*args, **kwargs)

    def __iter__(self):
        return iter(self._cursor)

    def __getattr__(self, name):
        return getattr(self._cursor, name)


class _CountingConnection:

    def __init__(self, connection, counter, statements=False):
        self._connection = connection
        self._counter = counter
        self._statements = statements

    def cursor(self, *args, **kwargs):
        return _CountingCursor(
            self._connection.cursor(*args, **kwargs), self._counter,
            self._statements)

    def __getattr__(self, name):
        return getattr(self._connection, name)


@contextmanager
def count_queries(statements=False):
    """Count the SQL statements run on the transaction's connection

    The statements still run on the real database; only their number is
    recorded (in the list yielded), or each statement with its parameters
    when statements is true."""
    transaction = Transaction()
    connection = transaction.connection
    queries = []
    transaction.connection = _CountingConnection(
        connection, queries, statements)
    try:
        yield queries
    finally:
        transaction.connection = connection


class WebClientViewMixin:
    "Checks of the module's views that the server does not make"

    @with_transaction()
    def test_list_datetime_widget(self):
        "List columns of date-time fields name a widget the web client has"
        # sao has no list column for date-time fields: Tryton's own lists
        # show them with widget="date" and widget="time".
        pool = Pool()
        View = pool.get('ir.ui.view')
        for view in View.search([('module', '=', self.module)]):
            view_type = view.type or (view.inherit and view.inherit.type)
            if view_type != 'tree':
                continue
            Model = pool.get(view.model)
            for node in etree.fromstring(view.arch).iter('field'):
                field = Model._fields.get(node.get('name'))
                if field and field._type in {'datetime', 'timestamp'}:
                    with self.subTest(view=view.name, field=field.name):
                        self.assertIn(node.get('widget'), {'date', 'time'})


@contextmanager
def queue_worker():
    "Configure [queue] worker as the production set does"
    previous = config.get('queue', 'worker')
    config.set('queue', 'worker', 'True')
    try:
        yield
    finally:
        config.set('queue', 'worker', previous)


class QueueTestMixin:

    def tasks(self, method):
        "Return the pending tasks of method"
        Queue = Pool().get('ir.queue')
        return [t for t in Queue.search([
                    ('finished_at', '=', None),
                    ], order=[('id', 'ASC')])
            if t.data['method'] == method]

    def run_tasks(self, tasks):
        "Run the tasks one after the other as trytond-worker does"
        Queue = Pool().get('ir.queue')
        for task in Queue.browse(tasks):
            task.run()
        for task in Queue.browse(tasks):
            self.assertTrue(task.finished_at)

    def assertTasks(self, tasks, model, method, records):
        self.assertTrue(tasks)
        self.assertEqual(
            {(t.name, t.data['model'], t.data['method']) for t in tasks},
            {('default', model, method)})
        self.assertEqual(
            sorted(i for t in tasks for i in t.data['instances']),
            sorted(r.id for r in records))
        self.assertEqual(
            {t.data['user'] for t in tasks}, {Transaction().user})


def table_accesses(query):
    """Return {table: set of accesses} of the plan of the python-sql query:
    'lookup' when the rows are found by an index condition, 'scan' when
    every row (of the table or of an index) is read, 'sort' (key None)
    when the rows are sorted after being read.

    On PostgreSQL the plan is made with sequential scans, hash and merge
    joins disabled: the small tables of a test would be scanned anyway, so
    this tells whether an index and the query's shape allow lookups."""
    cursor = Transaction().connection.cursor()
    sql, params = tuple(query)
    aliases = dict((a, t) for t, a in re.findall(r'"(\w+)" AS "(\w+)"', sql))
    accesses = defaultdict(set)
    if backend.name == 'postgresql':
        settings = ['enable_seqscan', 'enable_hashjoin', 'enable_mergejoin']
        for setting in settings:
            cursor.execute(f'SET LOCAL {setting} = off')
        try:
            cursor.execute('EXPLAIN (FORMAT JSON) ' + sql, params)
            plan = cursor.fetchone()[0]
        finally:
            for setting in settings:
                cursor.execute(f'RESET {setting}')
        if isinstance(plan, str):
            plan = json.loads(plan)

        def has_condition(node):
            return 'Index Cond' in node or any(
                has_condition(n) for n in node.get('Plans', []))

        def walk(node):
            if 'Sort' in node['Node Type']:
                accesses[None].add('sort')
            if 'Relation Name' in node:
                accesses[node['Relation Name']].add(
                    'lookup' if has_condition(node) else 'scan')
            for child in node.get('Plans', []):
                walk(child)
        walk(plan[0]['Plan'])
    else:
        cursor.execute('EXPLAIN QUERY PLAN ' + sql, params)
        for row in cursor.fetchall():
            detail = row[-1]
            if 'TEMP B-TREE' in detail:
                accesses[None].add('sort')
            match = re.match(r'(SCAN|SEARCH) (\w+)', detail)
            if match:
                how, name = match.groups()
                accesses[aliases.get(name, name)].add(
                    'lookup' if how == 'SEARCH' else 'scan')
    return accesses
