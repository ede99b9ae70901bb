#!/usr/bin/env bash
# Run the tests on SQLite and, when a server answers (or PG_REQUIRED=1),
# on PostgreSQL. The two backends run side by side (on 2 cores each keeps
# one busy) and their reports are printed one after the other, each ending
# with pytest's summary line, then one line per backend and suite.
#
# SUITES: the suites each backend runs one after the other: main (every
# test of `make test`), upstream (Tryton's own scenarios of the extended
# modules with the suite activated, tests/upstream_scenarios.py).
#
# Tryton's DB_CACHE (each set of modules activated once per run) keys on
# module names, not code, so it lives for one run only and is cleared
# first; KEEP_CACHE=1 keeps it for a run that continues the previous one
# on the same code (.ci/run). On SQLite it is a folder, on PostgreSQL the
# server itself: Tryton keeps each activation as a database named
# test-<hash> and copies it with CREATE DATABASE ... TEMPLATE, so one run
# at a time per PostgreSQL server.
set -u
cd "$(dirname "$0")/.."
BIN=.venv/bin
SUITES=${SUITES:-main}
BACKENDS=${BACKENDS:-sqlite postgresql}
PG_URI=${PG_URI:-postgresql://$(id -un)@/}
PG_REQUIRED=${PG_REQUIRED:-0}
KEEP_CACHE=${KEEP_CACHE:-0}
CACHE=var/test-cache
LOGS=var/test-logs
if [ "$KEEP_CACHE" != 1 ]; then
    rm -rf "$CACHE"
fi
mkdir -p "$CACHE" "$LOGS"

# The tests whose steps run in processes of their own on PostgreSQL, the
# load test (tests/test_load.py: the production set is PostgreSQL only)
# and the PostgreSQL upgrade (tests/test_upgrade.py), do not need the
# PostgreSQL lane: when both backends run, they run in the SQLite lane
# (PG_SUBPROCESS_URI), which ends sooner.
PG_SUBPROCESS_URI=
if [[ " $BACKENDS " == *" sqlite "* && " $BACKENDS " == *" postgresql "* ]]
then
    PG_SUBPROCESS_URI=$PG_URI
fi

# pytest's arguments for each suite and backend (-rs: why a test skipped;
# --durations: the slowest steps, to keep make test in its time)
args_main_sqlite() { echo -rs --durations=15; }
args_main_postgresql() {
    # The browser test and the API examples build their own SQLite demo
    # database (tests/conftest.py): once is enough.
    echo -rs --durations=15 --ignore=tests/test_web_client.py \
        --ignore=tests/test_api_examples.py \
        ${PG_SUBPROCESS_URI:+--ignore=tests/test_load.py} \
        ${PG_SUBPROCESS_URI:+--ignore=tests/test_upgrade.py}
}
args_upstream_sqlite() { echo -rs tests/upstream_scenarios.py; }
args_upstream_postgresql() { args_upstream_sqlite; }

run_sqlite() {
    DB_CACHE=$PWD/$CACHE/sqlite TRYTOND_DATABASE_URI=sqlite:// \
        PG_SUBPROCESS_URI=$PG_SUBPROCESS_URI $BIN/python -m pytest -q "$@"
}

run_postgresql() {
    # A commit does not wait for its write-ahead log to reach the disk
    # (only a crash of the server could lose it): the same transactions,
    # locks and isolation, less waiting.
    PGOPTIONS="${PGOPTIONS:-} -c synchronous_commit=off" \
        DB_CACHE=$PG_URI TRYTOND_DATABASE_URI=$PG_URI DB_NAME=test_crm_$$ \
        $BIN/python -m pytest -q "$@"
    local code=$?
    drop_postgresql_databases "test_crm_$$" >/dev/null 2>&1
    # and its file store
    rm -rf "${TRYTOND_DATABASE__PATH:-var/db}/test_crm_$$"
    return $code
}

drop_postgresql_databases() {
    # Drop the databases whose whole name matches the regular expression
    $BIN/python - "$PG_URI" "$1" <<'EOF'
import re
import sys
from urllib.parse import urlsplit

import psycopg

uri, pattern = sys.argv[1:]
parts = urlsplit(uri)
with psycopg.connect(
        host=parts.hostname or None, port=parts.port or None,
        user=parts.username or None, password=parts.password or None,
        dbname='postgres', connect_timeout=5, autocommit=True) as connection:
    for name, in connection.execute('SELECT datname FROM pg_database'):
        if re.fullmatch(pattern, name):
            try:
                connection.execute(f'DROP DATABASE "{name}"')
            except psycopg.Error as exception:
                sys.exit(f"Cannot drop the database {name} (another test "
                    f"run on this server?): {exception}")
EOF
}

# One backend: each suite after the other, each with its log
lane() {
    local backend=$1 suite started
    for suite in $SUITES; do
        started=$SECONDS
        # shellcheck disable=SC2046
        "run_$backend" $("args_${suite}_$backend") "${ARGS[@]}" \
            > "$LOGS/$suite-$backend.log" 2>&1
        echo $? $((SECONDS - started)) > "$LOGS/$suite-$backend.status"
    done
}

ARGS=("$@")
status=0
declare -A pids
for backend in $BACKENDS; do
    if [ "$backend" = postgresql ]; then
        if ! $BIN/python tools/check_postgresql.py "$PG_URI"; then
            if [ "$PG_REQUIRED" = 1 ]; then
                echo "PostgreSQL is required but does not answer at $PG_URI"
                status=1
            else
                echo "== PostgreSQL does not answer at $PG_URI: skipped"
            fi
            continue
        fi
        # Tryton's cache: test-<hash>
        if [ "$KEEP_CACHE" != 1 ] \
                && ! drop_postgresql_databases 'test-[0-9a-f]{40}'; then
            status=1
            continue
        fi
    fi
    for suite in $SUITES; do
        rm -f "$LOGS/$suite-$backend.log" "$LOGS/$suite-$backend.status"
    done
    echo "== Running the $SUITES tests on $backend (logs: $LOGS/)"
    lane "$backend" &
    pids[$backend]=$!
done
for backend in $BACKENDS; do
    [ -n "${pids[$backend]:-}" ] && wait "${pids[$backend]}"
done
summary=()
for backend in $BACKENDS; do
    [ -n "${pids[$backend]:-}" ] || continue
    for suite in $SUITES; do
        log=$LOGS/$suite-$backend.log
        echo "== The $suite tests on $backend"
        cat "$log"
        read -r code seconds < "$LOGS/$suite-$backend.status" \
            || code=1 seconds=?
        # pytest's summary line is the last one of its report
        line=$(tail -n 1 "$log" | tr -d '=' | sed 's/^ *//;s/ *$//')
        if ! [[ $line =~ \ in\ [0-9.]+s ]]; then
            line="no pytest summary line, see $log"
            [ "$code" = 0 ] && code=1
        fi
        [ "$code" = 0 ] || status=1
        summary+=("== $suite on $backend: $line (exit $code, $seconds s)")
    done
done
printf '%s\n' "${summary[@]}"
exit $status
