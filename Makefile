# The two commands of the README: `make run` and `make test`. Everything they need is
# installed here, into .venv/, from the pinned requirements files.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export PORT

.DEFAULT_GOAL := help
.PHONY: help run test lint format bench messages clean

help:
	@echo "make run    set up and start the app on the embedded default (SQLite, no servers needed)"
	@echo "make test   set up and run every test on PostgreSQL and Redis"
	@echo "make bench  run the benchmarks under bench/ (PostgreSQL, a few GB of data, long)"
	@echo "make lint / make format / make messages / make clean"

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

$(VENV)/.bench: requirements-bench.txt $(VENV)/.dev
	$(BIN)/pip install --quiet -r requirements-bench.txt
	touch $@

# --- make run: the embedded default -------------------------------------------------
# No DATABASE_URL, CELERY_BROKER_URL or EMAIL_URL: SQLite, kombu's filesystem transport
# and mail files, all under var/. Any of them set in the environment wins.
run: $(VENV)/.runtime
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py seed_demo --if-empty --with-login
	@echo ""
	@echo "  Retention CRM is starting: http://localhost:$(PORT)/admin/"
	@echo "  Demo login: demo / demo   (a support manager; demo data only)"
	@echo "  API: http://localhost:$(PORT)/api/docs/   Mail written to var/mail/   Ctrl-C stops everything."
	@echo ""
	$(BIN)/python scripts/run_dev.py -f Procfile.dev start --port $(PORT)

# --- make test: everything, on PostgreSQL and Redis ----------------------------------
test: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/retention_crm
test: export CELERY_BROKER_URL ?= redis://127.0.0.1:6379/0
test: export REDIS_URL ?= redis://127.0.0.1:6379/1
test: $(VENV)/.dev
	$(BIN)/python scripts/check_services.py
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# --- make bench: figures for bench/README.md ----------------------------------------
bench: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/retention_crm_bench
bench: export CELERY_BROKER_URL ?= redis://127.0.0.1:6379/0
bench: export REDIS_URL ?= redis://127.0.0.1:6379/1
bench: $(VENV)/.bench
	$(BIN)/python scripts/check_services.py --create-database
	$(BIN)/python -m bench $(BENCH)

# Extract marked strings into the .po files and compile them (needs GNU gettext; the
# compiled .mo files are committed so that running the app never needs it).
messages: $(VENV)/.dev
	cd . && $(BIN)/python manage.py makemessages --all --no-obsolete --ignore='.venv/*' --ignore='var/*' --ignore='bench/*'
	$(BIN)/python manage.py compilemessages --ignore='.venv/*'

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
