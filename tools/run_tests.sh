#!/usr/bin/env bash
# Run every test on SQLite and, when a server answers (or PG_REQUIRED=1),
# on PostgreSQL. Tryton's DB_CACHE keys on module names, not code, so the
# cache lives for one run only and is cleared first.
set -u
cd "$(dirname "$0")/.."
BIN=.venv/bin
BACKENDS=${BACKENDS:-sqlite postgresql}
PG_URI=${PG_URI:-postgresql://$(id -un)@/}
PG_REQUIRED=${PG_REQUIRED:-0}
CACHE=var/test-cache
rm -rf "$CACHE"
mkdir -p "$CACHE"
status=0
for backend in $BACKENDS; do
    case $backend in
    sqlite)
        echo "== Tests on SQLite"
        DB_CACHE=$PWD/$CACHE/sqlite TRYTOND_DATABASE_URI=sqlite:// \
            $BIN/python -m pytest -q "$@" || status=1
        ;;
    postgresql)
        if ! $BIN/python tools/check_postgresql.py "$PG_URI"; then
            if [ "$PG_REQUIRED" = 1 ]; then
                echo "PostgreSQL is required but does not answer at $PG_URI"
                status=1
            else
                echo "== PostgreSQL does not answer at $PG_URI: skipped"
            fi
            continue
        fi
        echo "== Tests on PostgreSQL"
        # The browser test builds its own SQLite demo database: once is
        # enough.
        DB_CACHE=$PWD/$CACHE/postgresql TRYTOND_DATABASE_URI=$PG_URI \
            DB_NAME=test_crm_$$ \
            $BIN/python -m pytest -q --ignore=tests/test_web_client.py "$@" \
            || status=1
        ;;
    esac
done
exit $status
