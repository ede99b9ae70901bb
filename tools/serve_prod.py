"""Run the suite locally the way it runs in production: PostgreSQL, a WSGI
server (gunicorn) with several processes serving trytond.application:app
and the web client, one trytond-cron and one trytond-worker, all on one
configuration rendered from deploy/trytond.conf.template. Run through
`make serve-prod`; doc/deploy.rst explains the pieces.

As a library (the load test):

    build_database(pg_uri, 'crm')
    with Stack(pg_uri, 'crm', workers=2, port=8100) as stack:
        ... requests to stack.url ...
"""
import argparse
import getpass
import http.client
import json
import os
import signal
import socket
import string
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from rpc_client import post

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / 'deploy' / 'trytond.conf.template'
VAR = ROOT / 'var' / 'prod'
# tools/demo_db.py: the demo users' password
DEMO_PASSWORD = 'Muster-2026'
DEMO_USERS = ['vertrieb', 'projekt', 'service', 'buchhaltung', 'leitung']


def default_pg_uri():
    "The local server through its socket, as the current user"
    return f'postgresql://{getpass.getuser()}@/'


def pg_connect(pg_uri, dbname='postgres'):
    import psycopg
    parts = urlsplit(pg_uri)
    return psycopg.connect(
        host=parts.hostname or None, port=parts.port or None,
        user=parts.username or None, password=parts.password or None,
        dbname=dbname, connect_timeout=10, autocommit=True)


def database_exists(pg_uri, database):
    with pg_connect(pg_uri) as connection:
        cursor = connection.execute(
            'SELECT 1 FROM pg_database WHERE datname = %s', (database,))
        return cursor.fetchone() is not None


def suite_activated(pg_uri, database):
    "Whether the database is a Tryton database with the suite activated"
    import psycopg
    with pg_connect(pg_uri, database) as connection:
        try:
            cursor = connection.execute(
                "SELECT COUNT(*) FROM ir_module WHERE state = 'activated' "
                "AND name IN ('crm_lifecycle', 'crm_projects', "
                "'crm_service')")
        except psycopg.errors.UndefinedTable:
            return False
        return cursor.fetchone()[0] == 3


def _data_path():
    "The file store: the one the demo build writes to"
    return Path(os.environ.get('TRYTOND_DATABASE__PATH')
        or ROOT / 'var' / 'db').resolve()


def _web_root():
    return Path(os.environ.get('TRYTOND_WEB__ROOT')
        or ROOT / 'node_modules' / 'tryton-sao').resolve()


def _environ():
    env = dict(os.environ)
    env['TRYTOND_DATABASE__PATH'] = str(_data_path())
    env['TRYTOND_WEB__ROOT'] = str(_web_root())
    return env


def build_database(pg_uri, database, small=False):
    """Create the PostgreSQL database with the suite and the demo data
    unless it exists; return True when it was built."""
    if database_exists(pg_uri, database):
        if not suite_activated(pg_uri, database):
            raise RuntimeError(
                f"Database {database} exists without the suite (a build "
                f"that was killed?): drop it (dropdb {database}) or "
                "choose another name")
        return False
    # The build runs on the development configuration (no queue worker):
    # the jobs it runs once (dormancy, escalation) are done when it goes
    # on, not left to a worker that does not run yet.
    command = [
        sys.executable, str(ROOT / 'tools' / 'demo_db.py'),
        '--config', str(ROOT / 'trytond.conf'),
        '--uri', pg_uri, '--database', database]
    if small:
        command.append('--small')
    subprocess.run(
        command, check=True, stdin=subprocess.DEVNULL, cwd=ROOT,
        env=_environ())
    return True


def render_config(pg_uri, database, port, path, host='127.0.0.1',
        batch_size=20):
    "Write the configuration from the template to path and return it"
    values = {
        'database_uri': pg_uri,
        'data_path': _data_path(),
        'listen': f'{host}:{port}',
        'web_root': _web_root(),
        'batch_size': batch_size,
        }
    text = string.Template(TEMPLATE.read_text()).substitute(values)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _script(name):
    "The console script of the interpreter's environment"
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else name


def port_free(host, port):
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, int(port)))
        except OSError:
            return False
    return True


class Stack:
    """The production set of processes on one database

    workers: processes of the WSGI server (one request at a time each);
    output: 'files' (web.log, cron.log, worker.log in the stack's folder)
    or 'terminal'."""

    def __init__(self, pg_uri, database, workers=2, port=8100,
            host='127.0.0.1', queue_processes=1, output='files',
            directory=None, timeout=180):
        self.pg_uri = pg_uri
        self.database = database
        self.workers = int(workers)
        self.port = int(port)
        self.host = host
        self.queue_processes = queue_processes
        self.output = output
        self.directory = Path(
            directory or VAR / f'{database}-{self.port}')
        self.config = self.directory / 'trytond.conf'
        self.timeout = timeout
        self.processes = {}
        self._files = []

    @property
    def url(self):
        return f'http://{self.host}:{self.port}/'

    def commands(self):
        "Return {name: (command, extra environment)}"
        config = str(self.config)
        return {
            'web': ([
                    _script('gunicorn'),
                    '--workers', str(self.workers),
                    '--bind', f'{self.host}:{self.port}',
                    # Load the pool once, before the processes fork
                    '--preload',
                    # Longer than trytond's [request] timeout (60 s)
                    '--timeout', '90',
                    '--graceful-timeout', '10',
                    '--name', f'trytond-{self.database}',
                    'trytond.application:app',
                    ], {
                    'TRYTOND_CONFIG': config,
                    'TRYTOND_DATABASE_NAMES': self.database,
                    }),
            'cron': ([
                    _script('trytond-cron'), '-c', config,
                    '-d', self.database, '-n', '1', '-v',
                    ], {}),
            'worker': ([
                    _script('trytond-worker'), '-c', config,
                    '-d', self.database,
                    '-n', str(self.queue_processes), '-v',
                    ], {}),
            }

    def start(self):
        if self.processes:
            raise RuntimeError("The stack runs already")
        if not port_free(self.host, self.port):
            raise RuntimeError(
                f"Port {self.port} on {self.host} is in use")
        render_config(
            self.pg_uri, self.database, self.port, self.config,
            host=self.host)
        env = _environ()
        # The rendered configuration decides, not the development one
        for key in ['TRYTOND_DATABASE__PATH', 'TRYTOND_WEB__ROOT',
                'TRYTOND_DATABASE_URI', 'TRYTOND_CONFIG']:
            env.pop(key, None)
        try:
            for name, (command, extra) in self.commands().items():
                if self.output == 'files':
                    log = open(self.directory / f'{name}.log', 'ab')
                    self._files.append(log)
                    stdout = stderr = log
                else:
                    stdout = stderr = None
                # A session of its own: Ctrl-C reaches only this script,
                # which stops the processes in order; stop() ends each
                # one with its children through its process group.
                self.processes[name] = subprocess.Popen(
                    command, env={**env, **extra}, cwd=self.directory,
                    stdin=subprocess.DEVNULL, stdout=stdout,
                    stderr=stderr, start_new_session=True)
            self.wait()
        except BaseException:
            self.stop()
            raise
        return self

    def wait(self):
        "Wait until the server answers JSON-RPC and serves the web client"
        deadline = time.monotonic() + self.timeout
        while True:
            self.check()
            try:
                version = self.call('common.server.version')
                with urllib.request.urlopen(self.url, timeout=10) as page:
                    if b'sao' not in page.read():
                        raise RuntimeError(
                            f"{self.url} does not serve the web client")
                return version
            except (OSError, http.client.HTTPException):
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{self.url} did not answer in {self.timeout} s"
                        + self._logs()) from None
                time.sleep(0.5)

    def check(self):
        "Raise when one of the processes ended"
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} ended with code {process.returncode}"
                    + self._logs())

    def alive(self):
        return bool(self.processes) and all(
            p.poll() is None for p in self.processes.values())

    def _logs(self):
        if self.output != 'files':
            return ''
        tails = []
        for name in self.processes:
            path = self.directory / f'{name}.log'
            if path.exists():
                lines = path.read_text(errors='replace').splitlines()
                tails.append(f"\n--- {path}\n" + '\n'.join(lines[-20:]))
        return ''.join(tails)

    def call(self, method, *params):
        "A JSON-RPC call to the server, without database"
        status, data = post(self.host, self.port, '/rpc/', json.dumps({
                    'id': 0, 'method': method, 'params': list(params),
                    }), {'Content-Type': 'application/json'}, timeout=60)
        if status != 200:
            # not (yet) serving
            raise ConnectionError(f"{method}: HTTP {status}")
        answer = json.loads(data)
        if answer.get('error'):
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer['result']

    def stop(self, timeout=20):
        "End the processes started, each with its children"
        for process in self.processes.values():
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                pass
            # What is left of its group (pool processes of the cron
            # or the worker)
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            process.wait()
        self.processes = {}
        for log in self._files:
            log.close()
        self._files = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--database', default='crm')
    parser.add_argument('--workers', type=int, default=2,
        help="processes of the WSGI server (default: 2)")
    parser.add_argument('--port', type=int, default=8000)
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--pg-uri', default=default_pg_uri(),
        help="the PostgreSQL server (default: the local socket as the "
        "current user)")
    parser.add_argument('--small', action='store_true',
        help="a dozen demo customers instead of fifty")
    parser.add_argument('--logs', choices=['terminal', 'files'],
        default='terminal', help="where the processes write")
    args = parser.parse_args()

    started = time.monotonic()
    if not port_free(args.host, args.port):
        print(f"Port {args.port} on {args.host} is in use. Stop what "
            "listens there or choose another port: make serve-prod "
            "PORT=8010", file=sys.stderr)
        return 1
    if build_database(args.pg_uri, args.database, small=args.small):
        print(f"Database {args.database} built in "
            f"{time.monotonic() - started:.0f} s", flush=True)
    else:
        print(f"Database {args.database} exists: reused (drop it to "
            f"rebuild: dropdb {args.database})", flush=True)

    # Ctrl-C and a terminating signal both stop the whole set (also when
    # started from a shell that ignores SIGINT for background jobs)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    stack = Stack(args.pg_uri, args.database, workers=args.workers,
        port=args.port, host=args.host, output=args.logs)
    began = time.monotonic()
    stack.start()
    try:
        version = stack.call('common.server.version')
        print(f"Tryton {version}: {args.workers} WSGI processes, "
            f"trytond-cron and trytond-worker on database "
            f"{args.database} (ready in {time.monotonic() - began:.0f} s)")
        if args.logs == 'files':
            print(f"Logs: {stack.directory}/{{web,cron,worker}}.log")
        password = _data_path() / f'{args.database}.password'
        if password.exists():
            print(f"admin's password: {password.read_text().strip()}")
        print(f"Demo users, password {DEMO_PASSWORD}: "
            + ", ".join(DEMO_USERS))
        print(f"Serving on {stack.url} (Ctrl-C stops everything)",
            flush=True)
        while stack.alive():
            time.sleep(1)
        stack.check()
    except KeyboardInterrupt:
        print("\nStopping", flush=True)
    except RuntimeError as exception:
        print(exception, file=sys.stderr)
        return 1
    finally:
        stack.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
