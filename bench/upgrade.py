"""Measure adding the suite to a PostgreSQL database with many parties

Builds a database with Tryton's standard modules only (as
tests/test_upgrade.py does: its fill step records one of each document
through proteus), then copies these documents set-based (INSERT ... SELECT
over generate_series) to PARTIES parties in this mix, by party number:

    0-2  an opportunity (lead)        3  a lost opportunity
    4    an opportunity, a quotation  5  a quotation
    6    an opportunity, an order and a posted customer invoice
    7    an order of long ago (dormant)
    8    a supplier invoice only      9  no document (contact)

and reports the time of ``trytond-admin -u crm_lifecycle crm_projects
crm_service --activate-dependencies`` on a copy of the database without
the copies (the suite's tables, views and data alone) and on the full one,
then the time of ``recompute_lifecycle_stage`` on all parties, and the
stages it gave.

    python bench/upgrade.py --pg-uri postgresql://USER@/ [--parties 100000]

The databases (upgrade_bench_*) are dropped at the end unless --keep.
"""
import argparse
import getpass
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / '.venv' / 'bin'
sys.path.insert(0, str(ROOT / 'tests'))

from test_upgrade import STANDARD, SUITE  # noqa: E402


def connect(uri, database='postgres'):
    parts = urlsplit(uri)
    return psycopg.connect(
        host=parts.hostname or None, port=parts.port or None,
        user=parts.username or None, password=parts.password or None,
        dbname=database, autocommit=True)


def run(*args, env):
    started = time.monotonic()
    subprocess.run(args, env=env, cwd=ROOT, check=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def copy(cursor, table, template, overrides, source, where):
    """Insert into table one copy of the row template per row of source
    (a FROM item with the number g and the party p), with the columns of
    overrides set to their SQL expressions"""
    cursor.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = %s AND column_name != 'id' "
        "ORDER BY ordinal_position", (table,))
    columns = [c for c, in cursor]
    values = [sql.SQL(overrides[c]) if c in overrides
        else sql.SQL('t.{}').format(sql.Identifier(c)) for c in columns]
    cursor.execute(sql.SQL(
            "INSERT INTO {table} ({columns}) SELECT {values} "
            "FROM {table} AS t, {source} WHERE t.id = %s AND {where}").format(
            table=sql.Identifier(table),
            columns=sql.SQL(', ').join(map(sql.Identifier, columns)),
            values=sql.SQL(', ').join(values),
            source=sql.SQL(source), where=sql.SQL(where)), (template,))
    return cursor.rowcount


def populate(uri, database, ids, parties):
    "Copy the documents of the fill step to parties new parties"
    numbered = ("(SELECT id AS p, CAST(substr(code, 7) AS INTEGER) AS g "
        "FROM party_party WHERE code LIKE 'bench-%%') AS n")
    days = "(n.g %% 700)"
    with connect(uri, database) as connection, \
            connection.cursor() as cursor:
        copy(cursor, 'party_party', ids['eta'], {
                'name': "'Bench ' || g", 'code': "'bench-' || g",
                'create_date': "t.create_date - (g %% 900) * INTERVAL '1 day'",
                }, f'generate_series(1, {int(parties)}) AS g', 'TRUE')
        start = f"CURRENT_DATE - 60 - {days}"
        copy(cursor, 'sale_opportunity', ids['alpha_opportunity'], {
                'party': 'n.p', 'start_date': start,
                }, numbered, 'n.g %% 10 IN (0, 1, 2, 4, 6)')
        copy(cursor, 'sale_opportunity', ids['gamma_opportunity'], {
                'party': 'n.p', 'start_date': start,
                'end_date': f"{start} + 20",
                }, numbered, 'n.g %% 10 = 3')
        copy(cursor, 'sale_sale', ids['beta_quotation'], {
                'party': 'n.p', 'quotation_date': f"{start} + 10",
                }, numbered, 'n.g %% 10 IN (4, 5)')
        copy(cursor, 'sale_sale', ids['alpha_quotation'], {
                'party': 'n.p', 'quotation_date': f"{start} + 10",
                'sale_date': f"{start} + 15",
                }, numbered, 'n.g %% 10 = 6')
        copy(cursor, 'account_invoice', ids['alpha_invoice'], {
                'party': 'n.p', 'invoice_date': f"{start} + 20",
                }, numbered, 'n.g %% 10 = 6')
        copy(cursor, 'sale_sale', ids['delta_quotation'], {
                'party': 'n.p', 'quotation_date': f"{start} - 600",
                'sale_date': f"{start} - 590",
                }, numbered, 'n.g %% 10 = 7')
        copy(cursor, 'account_invoice', ids['epsilon_invoice'], {
                'party': 'n.p', 'invoice_date': f"{start} + 5",
                }, numbered, 'n.g %% 10 = 8')
        cursor.execute('ANALYZE')


def recompute(config, database):
    "Return the seconds of recompute_lifecycle_stage and the stages"
    code = f"""
import json, time
from trytond.pool import Pool
from trytond.transaction import Transaction
pool = Pool({database!r})
pool.init()
with Transaction().start({database!r}, 0) as transaction:
    Party = pool.get('party.party')
    started = time.monotonic()
    Party.recompute_lifecycle_stage()
    seconds = time.monotonic() - started
    cursor = transaction.connection.cursor()
    cursor.execute('SELECT lifecycle_stage, COUNT(*) FROM party_party '
        'GROUP BY lifecycle_stage ORDER BY 1')
    stages = dict(cursor)
    cursor.execute('SELECT COUNT(*) FROM crm_lifecycle_history')
    history, = cursor.fetchone()
    transaction.commit()
print(json.dumps([seconds, stages, history]))
"""
    output = subprocess.run(
        [sys.executable, '-c', code], check=True, cwd=ROOT,
        env={**os.environ, 'TRYTOND_CONFIG': str(config)},
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(output.splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--pg-uri', default=f'postgresql://{getpass.getuser()}@/')
    parser.add_argument('--parties', type=int, default=100_000)
    parser.add_argument('--keep', action='store_true',
        help="do not drop the databases")
    args = parser.parse_args()
    import test_upgrade

    suffix = os.getpid()
    big, small = f'upgrade_bench_{suffix}', f'upgrade_bench_{suffix}_empty'
    folder = Path(tempfile.mkdtemp(prefix='upgrade-bench-'))
    config = folder / 'trytond.conf'
    config.write_text(f"[database]\nuri = {args.pg_uri}\n")
    password = folder / 'admin.password'
    password.write_text(secrets.token_urlsafe(12) + '\n')
    env = {**os.environ, 'TRYTONPASSFILE': str(password),
        'TRYTOND_CONFIG': str(config)}
    for name in ['TRYTOND_DATABASE_URI', 'DB_NAME', 'DB_CACHE']:
        env.pop(name, None)

    def admin(database, *args):
        return run(str(BIN / 'trytond-admin'), '-c', str(config),
            '-d', database, *args, env=env)

    with connect(args.pg_uri) as connection:
        connection.execute(f'CREATE DATABASE "{big}"')
    try:
        print("standard modules...", flush=True)
        admin(big, '--email', 'admin@example.com', '-u', *STANDARD,
            '--activate-dependencies')
        ids_file = folder / 'ids.json'
        run(sys.executable, test_upgrade.__file__, 'fill',
            '--config', str(config), '--database', big,
            '--output', str(ids_file), env=env)
        ids = json.loads(ids_file.read_text())
        with connect(args.pg_uri) as connection:
            connection.execute(
                f'CREATE DATABASE "{small}" TEMPLATE "{big}"')
        print(f"{args.parties} parties...", flush=True)
        started = time.monotonic()
        populate(args.pg_uri, big, ids, args.parties)
        print(f"  copied in {time.monotonic() - started:.1f} s", flush=True)

        print("activating the suite...", flush=True)
        empty = admin(small, '-u', *SUITE, '--activate-dependencies')
        full = admin(big, '-u', *SUITE, '--activate-dependencies')
        seconds, stages, history = recompute(config, big)
        print(f"activation with 8 parties:         {empty:6.1f} s")
        print(f"activation with {args.parties} more parties: "
            f"{full:6.1f} s")
        print(f"recompute_lifecycle_stage (all):   {seconds:6.1f} s")
        print(f"stages: {stages}")
        print(f"history rows: {history}")
    finally:
        if not args.keep:
            with connect(args.pg_uri) as connection:
                for database in [big, small]:
                    connection.execute(
                        f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


if __name__ == '__main__':
    main()
