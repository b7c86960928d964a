# django-clicktoagent: `make run` starts the demo, `make test` runs every check.
SHELL := /bin/bash
# The interpreter of .venv; PYTHON=python3.13 (or a path) makes .venv again with that one,
# and pip then installs the newest Django it supports.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_VERSION = import sys; print(".".join(map(str, sys.version_info[:3])))
PYTHON_VERSION := $(shell $(PYTHON) -c '$(PY_VERSION)' 2>/dev/null)
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)-$(PYTHON_VERSION)

.PHONY: run test test-all lint typecheck pytest test-sqlite venv sandbox clean bench browser

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -n "$(PYTHON_VERSION)" || { echo "PYTHON=$(PYTHON) is not a Python interpreter"; exit 1; }
	@if [ -x $(BIN)/python ] && [ "$$($(BIN)/python -c '$(PY_VERSION)')" != "$(PYTHON_VERSION)" ]; then \
	echo "$(VENV) is not Python $(PYTHON_VERSION): making it again"; rm -rf $(VENV); fi
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

## Start the demo: database, demo data, admin user, DialogTech emulator and web server.
run: venv
	bash scripts/run_demo.sh

## Lint (ruff, formatting, the import layers), type-check and run the whole test suite.
test: lint typecheck pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: venv
	$(BIN)/mypy clicktoagent config

pytest: venv browser-if-possible
	$(BIN)/python -m pytest -q

## The test matrix (noxfile.py): Python 3.11 + Django 5.2 and 3.13 + Django 6.1 on
## PostgreSQL (DATABASE_URL), 3.12 + Django 6.0 on SQLite, each leg in its own virtualenv.
## One leg: make test-all NOX_ARGS="-s dj61" (or .venv/bin/nox -s dj61).
test-all: venv browser-if-possible
	$(BIN)/nox $(NOX_ARGS)

.PHONY: browser-if-possible
# Chromium for the browser tests, only where installing it is possible (root or CI).
browser-if-possible:
	@if [ -x /usr/bin/chromium ] || { [ "$$(id -u)" != 0 ] && [ -z "$$CI" ]; }; then :; \
	else $(MAKE) browser; fi

## The suite on SQLite (what `pytest` uses when DATABASE_URL is not set).
test-sqlite: venv
	env -u DATABASE_URL $(BIN)/python -m pytest -q -m "not postgres"

## Only the DialogTech emulator, on 127.0.0.1:8099.
sandbox: venv
	$(BIN)/python manage.py clicktoagent_sandbox --port 8099

## Debian's Chromium for the end-to-end admin tests (Playwright drives it; no browser download).
## As root it uses apt-get directly; otherwise (e.g. a CI runner) through sudo.
browser:
	@if [ -x /usr/bin/chromium ]; then echo "chromium: /usr/bin/chromium"; \
	else SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver; fi

clean:
	rm -rf $(VENV) .nox .mypy_cache .ruff_cache .pytest_cache

.PHONY: worker dispatcher reconcile reconciler

## One RQ worker (TASKS_BACKEND=rq; REDIS_URL, DATABASE_URL from the environment or .env).
## Run any number, on any number of machines. SIGTERM: finish the current call, then stop.
worker: venv
	TASKS_BACKEND=rq $(BIN)/python manage.py rqworker --with-scheduler default

## One dispatcher: sends the calls queued on Redis (CLICKTOAGENT_DISPATCH_QUEUE=redis is
## forced; every web process needs it too). Run any number, beside `make worker` for the
## other tasks. SIGTERM: finish the current call, then stop; a second SIGTERM: stop now.
dispatcher: venv
	TASKS_BACKEND=rq CLICKTOAGENT_DISPATCH_QUEUE=$${CLICKTOAGENT_DISPATCH_QUEUE:-redis} \
	$(BIN)/python manage.py clicktoagent_dispatcher

## Reconcile once: queue lost pending attempts again, mark lost dispatching ones unknown.
reconcile: venv
	$(BIN)/python manage.py clicktoagent_reconcile

## Keep reconciling every RECONCILE_EVERY seconds (default 30) until SIGTERM.
reconciler: venv
	$(BIN)/python manage.py clicktoagent_reconcile --every $${RECONCILE_EVERY:-30}

## Benchmarks (not tests): results go to bench/README.md. Needs PostgreSQL and Redis.
## Some parts only: make bench BENCH="api workers" (profile api workers scaling webhooks guardrails memory).
BENCH ?= all
bench: venv
	BENCH="$(BENCH)" BENCH_PYTHON=$(BIN)/python bash bench/run.sh
