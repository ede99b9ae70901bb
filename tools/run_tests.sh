#!/usr/bin/env bash
# Run every test on SQLite and, when a server answers (or PG_REQUIRED=1),
# on PostgreSQL. The two backends run side by side (each mostly waits on a
# different process) and their reports are printed one after the other.
# Tryton's DB_CACHE keys on module names, not code, so the cache lives for
# one run only and is cleared first.
set -u
cd "$(dirname "$0")/.."
BIN=.venv/bin
BACKENDS=${BACKENDS:-sqlite postgresql}
PG_URI=${PG_URI:-postgresql://$(id -un)@/}
PG_REQUIRED=${PG_REQUIRED:-0}
CACHE=var/test-cache
LOGS=var/test-logs
rm -rf "$CACHE" "$LOGS"
mkdir -p "$CACHE" "$LOGS"

run_sqlite() {
    DB_CACHE=$PWD/$CACHE/sqlite TRYTOND_DATABASE_URI=sqlite:// \
        $BIN/python -m pytest -q "$@"
}

run_postgresql() {
    # The browser test and the API examples build their own SQLite demo
    # database (tests/conftest.py): once is enough.
    DB_CACHE=$PWD/$CACHE/postgresql TRYTOND_DATABASE_URI=$PG_URI \
        DB_NAME=test_crm_$$ \
        $BIN/python -m pytest -q --ignore=tests/test_web_client.py \
        --ignore=tests/test_api_examples.py "$@"
}

status=0
declare -A pids
for backend in $BACKENDS; do
    if [ "$backend" = postgresql ] \
            && ! $BIN/python tools/check_postgresql.py "$PG_URI"; then
        if [ "$PG_REQUIRED" = 1 ]; then
            echo "PostgreSQL is required but does not answer at $PG_URI"
            status=1
        else
            echo "== PostgreSQL does not answer at $PG_URI: skipped"
        fi
        continue
    fi
    echo "== Running the tests on $backend (log: $LOGS/$backend.log)"
    "run_$backend" "$@" > "$LOGS/$backend.log" 2>&1 &
    pids[$backend]=$!
done
for backend in $BACKENDS; do
    [ -n "${pids[$backend]:-}" ] || continue
    wait "${pids[$backend]}" || status=1
    echo "== Tests on $backend"
    cat "$LOGS/$backend.log"
done
exit $status
