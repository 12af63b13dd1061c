# The two commands a newcomer needs: `make run` and `make test`. Everything else supports them.
.DEFAULT_GOAL := help
.PHONY: help install run test test-postgres test-faults bench lint format migrations-check clean test-browser screens serve architecture sizes

VENV := .venv
PY := $(VENV)/bin/python
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
DEMO_PASSWORD ?= demo

# Django 6.1 needs Python >= 3.12: take the first interpreter that is new enough. With pyenv, the
# .python-version file makes python3.12 resolve; elsewhere python3 may already be 3.12 or 3.13.
PYTHON ?= $(shell for p in python3.13 python3.12 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 \
	&& { echo $$p; break; }; done)

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "ERROR: Python 3.12 or newer is required (Django 6.1). Install it, e.g. 'pyenv install 3.12', and retry."; exit 1; }
	@echo "Creating $(VENV) with $$($(PYTHON) --version)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

install: $(VENV)/.installed ## Create .venv and install the app with its dev tools

run: install ## Set up the SQLite database with demo data and serve on http://127.0.0.1:8000
	$(PY) manage.py migrate --no-input
	$(PY) manage.py seed_demo --password $(DEMO_PASSWORD)
	@echo ""
	@echo "Serving on http://127.0.0.1:8000/ — sign in at http://127.0.0.1:8000/accounts/login/ (password: $(DEMO_PASSWORD)); admin at /admin/ (user admin)."
	$(PY) manage.py runserver 127.0.0.1:8000

# Production (docs/deploy.md): the environment supplies DEBUG=false, SECRET_KEY, ALLOWED_HOSTS and
# DATABASE_URL. Several app servers share one database: run migrations on one only (MIGRATE=no on
# the others). createcachetable does nothing unless CACHE_URL names a database cache.
MIGRATE ?= yes
serve: install ## Production: migrate, collect static files, run gunicorn (see docs/deploy.md)
	@$(PY) -m clinic.serving.preflight
	$(PY) manage.py check --deploy
	@# The line above ran every system check; migrate need not repeat them.
	@if [ "$(MIGRATE)" != no ]; then echo "$(PY) manage.py migrate --no-input --skip-checks"; $(PY) manage.py migrate --no-input --skip-checks; fi
	$(PY) manage.py createcachetable
	$(PY) manage.py collectstatic --no-input
	exec $(VENV)/bin/gunicorn --config python:clinic.serving.gunicorn_conf

test: install ## Run the whole test suite, browser tests included (SQLite, or DATABASE_URL when set)
	$(VENV)/bin/pytest

test-browser: install ## Only the browser tests (Playwright + /usr/bin/chromium: apt-get install chromium)
	$(VENV)/bin/pytest tests/browser

screens: install ## Regenerate the screenshots in docs/img/ from the demo data (see docs/screens.md)
	$(PY) tests/browser/make_screens.py

test-postgres: install ## Run the whole suite on PostgreSQL (PG_URL, default the local server)
	@$(PY) -c "import psycopg, sys; psycopg.connect('$(PG_URL)', connect_timeout=5).close()" 2>/dev/null || { \
		echo ""; echo "ERROR: PostgreSQL is not reachable at $(PG_URL)."; \
		echo "Production runs on PostgreSQL, so this run fails instead of skipping. Start the server or set PG_URL."; \
		echo ""; exit 1; }
	DATABASE_URL=$(PG_URL) $(VENV)/bin/pytest

# The fault tests run gunicorn against a database of their own (pytest-django's test_clinic_faults,
# dropped at the end) and cut its connections mid-run; FAULTS_RESTART_DB=1 also restarts the
# PostgreSQL server once (only where no one else is using it). docs/security.md.
FAULTS_PG_URL ?= postgres://postgres@127.0.0.1:5432/clinic_faults
test-faults: install ## Concurrent writes through gunicorn while PostgreSQL connections drop
	@$(PY) -c "import psycopg; psycopg.connect('$(FAULTS_PG_URL)', dbname='postgres', connect_timeout=5).close()" 2>/dev/null || { \
		echo ""; echo "ERROR: PostgreSQL is not reachable at $(FAULTS_PG_URL)."; \
		echo "The fault tests need PostgreSQL, so this run fails instead of skipping. Start the server or set FAULTS_PG_URL."; \
		echo ""; exit 1; }
	DATABASE_URL=$(FAULTS_PG_URL) $(VENV)/bin/pytest -m faults tests/faults

# Performance (docs/performance.md): rebuild a bench database, generate a network of clinics, time
# the pages and the API. Quick by default (under two minutes); BENCH=full for the issue's network
# (50 clinics, 20,000 patients, ~2.5 million sets). SQLite file bench.sqlite3 unless DATABASE_URL
# names a PostgreSQL database whose name contains "bench" (the run wipes it).
BENCH ?= quick
bench: install ## Benchmarks on a generated network (BENCH=quick|full; DATABASE_URL=…bench… for PostgreSQL)
	DATABASE_URL=$${DATABASE_URL:-sqlite:///$(CURDIR)/bench.sqlite3} $(PY) manage.py bench --fresh --size $(BENCH)

lint: install ## ruff (lint and format check), mypy (types), the import contracts, and a check that no migration is missing
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	$(PY) manage.py makemigrations --check --dry-run

architecture: install ## Redraw docs/img/architecture.svg (the packages and their imports) from the code
	$(PY) .ci/architecture.py

sizes: install ## The longest function per package and the modules over 400 lines (docs/architecture.md)
	$(PY) .ci/sizes.py

format: install ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean: ## Remove the virtual environment and the SQLite database
	rm -rf $(VENV) db.sqlite3 staticfiles private-files
