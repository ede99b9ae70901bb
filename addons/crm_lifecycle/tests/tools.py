# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from contextlib import contextmanager

import trytond.config as config
from lxml import etree
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction


class _CountingCursor:

    def __init__(self, cursor, counter):
        self._cursor = cursor
        self._counter = counter

    def execute(self, *args, **kwargs):
        self._counter.append(args[0] if args else None)
        return self._cursor.execute(*args, **kwargs)

    def __iter__(self):
        return iter(self._cursor)

    def __getattr__(self, name):
        return getattr(self._cursor, name)


class _CountingConnection:

    def __init__(self, connection, counter):
        self._connection = connection
        self._counter = counter

    def cursor(self, *args, **kwargs):
        return _CountingCursor(
            self._connection.cursor(*args, **kwargs), self._counter)

    def __getattr__(self, name):
        return getattr(self._connection, name)


@contextmanager
def count_queries():
    """Count the SQL statements run on the transaction's connection

    The statements still run on the real database; only their number is
    recorded (in the list yielded)."""
    transaction = Transaction()
    connection = transaction.connection
    queries = []
    transaction.connection = _CountingConnection(connection, queries)
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
