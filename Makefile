# Guichet Assistant: `make run` starts the product, `make test` runs every check.
# Both bootstrap what they need (virtualenv, pinned packages, model files, database, demo index).
PYTHON_SYS ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
DEPS_STAMP := $(VENV)/.deps-stamp
TEST_DATABASE_URL ?= postgres://127.0.0.1:5432/test

.PHONY: run test bench redteam bootstrap deps model migrate demo-kb chromium lint typecheck pytest pytest-postgres clean

$(DEPS_STAMP): requirements.txt requirements-dev.txt constraints.txt
	@command -v $(PYTHON_SYS) >/dev/null || { echo "Python 3.11 ($(PYTHON_SYS)) is required"; exit 1; }
	test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

deps: $(DEPS_STAMP)

model: deps
	$(PY) manage.py fetch_model --offline

migrate: deps
	$(PY) manage.py migrate --noinput

demo-kb: migrate
	$(PY) manage.py ingest ingestion/demo_kb

bootstrap: model demo-kb

run: bootstrap
	$(PY) manage.py runstack

lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: deps
	$(VENV)/bin/mypy .

# Browser tests drive Debian's Chromium (Playwright never downloads a browser here).
chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y --no-install-recommends chromium chromium-driver; }

pytest: model chromium
	$(PY) -m pytest -v

# The Django tests again, on PostgreSQL (database `test` on this machine; see README).
pytest-postgres: model
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) -m pytest -v -m django_db

test: lint typecheck pytest pytest-postgres

# Prompt-injection attack sets through the real pipeline and model -> var/reports/redteam.json (slow on CPU).
redteam: model
	$(PY) manage.py redteam

# Benchmarks (not part of `make test`): figures with their same-run baselines -> var/reports/bench.json
bench: model
	$(PY) -m bench.run

clean:
	rm -rf var/index var/db.sqlite3 var/celery-*.sqlite3
