# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The load test in short (bench/load.py): the departments of the small
demo company at work for 30 seconds against the production set with 2
worker processes (tools/serve_prod.py), then the invariants checked with
SQL. It asserts no error and no broken invariant, never a time: the
figures are printed, and `make load` measures them for the README.

PostgreSQL only (the production set runs on it): PG_SUBPROCESS_URI names the
server (tools/run_tests.sh runs the test once, in the SQLite lane), else
TRYTOND_DATABASE_URI when it is PostgreSQL; skipped without one, and when
no server answers unless PG_REQUIRED=1. The small demo database is built
once per version of the code (tools/demo_db.py --small through
serve_prod.build_database) and kept on the server as a template; each run
plays on a copy that is dropped afterwards."""
import hashlib
import os
import re
import socket
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The PostgreSQL server of the production set: PG_SUBPROCESS_URI (the
# SQLite lane of tools/run_tests.sh sets it), else the test run's when it
# is one
DATABASE_URI = os.environ.get('PG_SUBPROCESS_URI') or os.environ.get(
    'TRYTOND_DATABASE_URI', '')
DURATION = int(os.environ.get('LOAD_DURATION', 30))
USERS = int(os.environ.get('LOAD_USERS', 10))
WORKERS = 2

pytestmark = pytest.mark.skipif(
    not DATABASE_URI.startswith('postgresql'),
    reason="the production set runs on PostgreSQL only (PG_SUBPROCESS_URI "
    "or TRYTOND_DATABASE_URI)")


def _port():
    "LOAD_PORT, else a free port"
    if os.environ.get('LOAD_PORT'):
        return int(os.environ['LOAD_PORT'])
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture(scope='module')
def load():
    sys.path.insert(0, str(ROOT / 'bench'))
    try:
        import load
    finally:
        sys.path.remove(str(ROOT / 'bench'))
    return load


def _code_key():
    "A digest of what the demo database is built from"
    digest = hashlib.sha1()
    paths = [ROOT / 'tools' / 'demo_db.py', ROOT / 'requirements.txt']
    paths += sorted(p for p in (ROOT / 'addons').rglob('*')
        if p.is_file() and 'tests' not in p.parts
        and '__pycache__' not in p.parts)
    for path in paths:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _template(load):
    """The small demo database of this code, built once and kept on the
    server as crm_load_<code digest>: each run plays on a copy of it (the
    older ones are dropped)"""
    serve_prod = load.serve_prod
    template = f'crm_load_{_code_key()}'
    with serve_prod.pg_connect(DATABASE_URI) as connection:
        names = [n for n, in connection.execute(
                'SELECT datname FROM pg_database')]
    for name in names:
        if re.fullmatch(r'crm_load_[0-9a-f]{12}', name) and name != template:
            load.drop_database(DATABASE_URI, name)
    if template in names and not serve_prod.suite_activated(
            DATABASE_URI, template):
        # a build that was killed
        load.drop_database(DATABASE_URI, template)
    built = serve_prod.build_database(DATABASE_URI, template, small=True)
    return template, built


def test_load(load, tmp_path):
    "30 s of every department with 2 workers: no error, every invariant"
    serve_prod = load.serve_prod
    try:
        serve_prod.pg_connect(DATABASE_URI).close()
    except Exception as exception:
        if os.environ.get('PG_REQUIRED') == '1':
            pytest.fail(f"PostgreSQL does not answer: {exception}")
        pytest.skip(f"PostgreSQL does not answer: {exception}")
    started = time.monotonic()
    lines = []
    template, built = _template(load)
    build = (f"demo database {template} built in "
        f"{time.monotonic() - started:.0f} s" if built
        else f"demo database {template} reused")
    result = load.play(DATABASE_URI, template, WORKERS, DURATION, USERS,
        _port(), projects=4, directory=tmp_path, log=lines.append)
    print(f"\n[postgresql] load test: {build}, prepared in "
        f"{result['prepare_s']} s, stack up in {result['stack_start_s']} s, "
        f"stopped in {result['stop_s']} s, total "
        f"{time.monotonic() - started:.0f} s")
    print('\n'.join(lines + load.summary(result)), flush=True)
    assert not result['overall']['errors'], (
        f"{result['overall']['errors']} errors:\n"
        + '\n'.join(result['error_samples'][:5]))
    assert not load.broken_invariants(result), {
        name: value for name, value in result['invariants'].items()
        if value[0]}
    # the users did their work
    assert all(result['done'][k] for k in [
            'e-mails accepted', 'new organisations', 'milestones created',
            'invoices']), result['done']
