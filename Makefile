# The two commands: `make demo` and `make test`. Everything else is a step
# they share.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG := trytond.conf
DEMO_DB := demo
PORT ?= 8000
# PostgreSQL for the tests: the local server through its socket, as the
# current user; override for another server.
PG_URI ?= postgresql://$(shell id -un)@/
# 1: the PostgreSQL run is required (CI); 0: it runs when a server answers.
PG_REQUIRED ?= 0
# 1: keep the database cache of the previous run on the same code (CI)
KEEP_CACHE ?= 0
# trytond.conf names folders relative to this directory; SQLite and the web
# server need them absolute.
export TRYTOND_DATABASE__PATH ?= $(CURDIR)/var/db
export TRYTOND_WEB__ROOT ?= $(CURDIR)/node_modules/tryton-sao

.PHONY: demo demo-db demo-postgresql serve-prod load test test-sqlite test-postgresql test-upstream install web lint bench clean

# The demo's database server: empty for the SQLite file of trytond.conf;
# DEMO_URI=postgresql://user@/ builds and serves it on PostgreSQL (`make
# demo-postgresql` does that on PG_URI), through var/demo-$(DEMO_DB).conf
DEMO_URI ?=
DEMO_CONFIG = $(if $(DEMO_URI),var/demo-$(DEMO_DB).conf,$(CONFIG))

demo: demo-db
	@$(BIN)/python tools/check_port.py 127.0.0.1 $(PORT)
	@echo "Serving the demo on http://127.0.0.1:$(PORT)/ (Ctrl-C stops it)"
	TRYTOND_WEB__LISTEN=127.0.0.1:$(PORT) $(BIN)/trytond -c $(DEMO_CONFIG) \
		-d $(DEMO_DB)

demo-db: install web
	$(BIN)/python tools/demo_db.py --config $(CONFIG) --database $(DEMO_DB) \
		--port $(PORT) $(if $(DEMO_URI),--uri '$(DEMO_URI)') \
		$(if $(filter 1,$(RESET)),--reset)

demo-postgresql: install
	@$(BIN)/python tools/check_postgresql.py '$(PG_URI)' || { \
		echo "demo-postgresql needs PostgreSQL at $(PG_URI) (PG_URI=...)" >&2; \
		exit 1; }
	$(MAKE) demo DEMO_URI='$(PG_URI)'

# The production set on PostgreSQL (doc/deploy.rst): gunicorn with WORKERS
# trytond processes, trytond-cron and trytond-worker; builds the demo into
# database PROD_DB when it is missing. Ctrl-C stops all of it.
PROD_DB ?= crm
WORKERS ?= 2
serve-prod: install web
	@$(BIN)/python tools/check_postgresql.py '$(PG_URI)' || { \
		echo "serve-prod needs PostgreSQL at $(PG_URI) (PG_URI=...)" >&2; \
		exit 1; }
	$(BIN)/python tools/serve_prod.py --pg-uri '$(PG_URI)' \
		--database $(PROD_DB) --workers $(WORKERS) --port $(PORT)

# The load test (bench/load.py, README "Load test"): the departments
# against the production set with 1 and 2 workers, LOAD_DURATION seconds
# each, on copies of the demo database LOAD_DB (built when missing)
LOAD_DB ?= crm_load
LOAD_DURATION ?= 120
LOAD_PORT ?= 8100
load: install web
	@$(BIN)/python tools/check_postgresql.py '$(PG_URI)' || { \
		echo "load needs PostgreSQL at $(PG_URI) (PG_URI=...)" >&2; \
		exit 1; }
	$(BIN)/python bench/load.py --pg-uri '$(PG_URI)' --database $(LOAD_DB) \
		--duration $(LOAD_DURATION) --port $(LOAD_PORT)

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-test.txt pyproject.toml
	@$(PYTHON) tools/check_prerequisites.py python
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -r requirements-test.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

web: node_modules/tryton-sao/index.html

node_modules/tryton-sao/index.html: package.json package-lock.json .npmrc
	@$(PYTHON) tools/check_prerequisites.py node
	npm ci --no-audit --no-fund
	touch $@

test: install web
	PG_URI='$(PG_URI)' PG_REQUIRED=$(PG_REQUIRED) KEEP_CACHE=$(KEEP_CACHE) \
		tools/run_tests.sh

test-sqlite: install web
	BACKENDS=sqlite tools/run_tests.sh

test-postgresql: install
	PG_URI='$(PG_URI)' PG_REQUIRED=1 BACKENDS=postgresql tools/run_tests.sh

# Tryton's own scenarios of the extended modules, with the suite activated
# (on SQLite; UPSTREAM_BACKENDS="sqlite postgresql" for both)
UPSTREAM_BACKENDS ?= sqlite
test-upstream: install
	SUITES=upstream BACKENDS='$(UPSTREAM_BACKENDS)' PG_URI='$(PG_URI)' \
		PG_REQUIRED=$(PG_REQUIRED) KEEP_CACHE=$(KEEP_CACHE) \
		tools/run_tests.sh

lint: install
	$(BIN)/ruff check .

# The benchmark (bench/run.py, README "Performance"): the CRM lists, the
# timeline and the jobs at BENCH_SIZES customers, each size in a database
# of its own on PostgreSQL, against vanilla Tryton and raw SQL; prints the
# tables and writes var/bench.json (BENCH_ARGS=--keep keeps the databases)
BENCH_SIZES ?= 2000,20000
BENCH_ARGS ?=
bench: install
	@$(BIN)/python tools/check_postgresql.py '$(PG_URI)' || { \
		echo "bench needs PostgreSQL at $(PG_URI) (PG_URI=...)" >&2; \
		exit 1; }
	$(BIN)/python bench/run.py --pg-uri '$(PG_URI)' --sizes $(BENCH_SIZES) \
		$(BENCH_ARGS)

clean:
	rm -rf var/test-cache build dist *.egg-info
