# Guichet Assistant: `make run` starts the product, `make test` runs every check.
# Both bootstrap what they need (virtualenv, pinned packages, model files, database, demo index).
PYTHON_SYS ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
DEPS_STAMP := $(VENV)/.deps-stamp
TEST_DATABASE_URL ?= postgres://127.0.0.1:5432/test

.PHONY: run test bench load redteam bootstrap deps model migrate demo-kb chromium lint typecheck pytest pytest-postgres clean

# llama-cpp-python ships only as source. A "native" build uses every instruction the build CPU reports,
# including AMX tiles, which some virtual machines report but do not enable (the model then dies with
# "Illegal instruction"). So it is built once, portably (AVX2/FMA/F16C), into a wheelhouse outside the
# checkout that later installs (CI's clean clones included) reuse. LLAMA_CMAKE_ARGS overrides, e.g. CUDA.
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF
WHEELHOUSE ?= $(HOME)/.cache/guichet-assistant/wheels-$(shell echo '$(LLAMA_VERSION) $(LLAMA_CMAKE_ARGS)' | sha1sum | cut -c1-10)

$(DEPS_STAMP): requirements.txt requirements-dev.txt constraints.txt
	@command -v $(PYTHON_SYS) >/dev/null || { echo "Python 3.11 ($(PYTHON_SYS)) is required"; exit 1; }
	test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	@ls $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || { \
	  echo "building llama-cpp-python $(LLAMA_VERSION) ($(LLAMA_CMAKE_ARGS)): about 5 minutes, once per machine"; \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) wheel --quiet --disable-pip-version-check --no-deps --no-cache-dir \
	    -w $(WHEELHOUSE) llama-cpp-python==$(LLAMA_VERSION); }
	$(PIP) install --quiet --disable-pip-version-check --find-links $(WHEELHOUSE) -r requirements-dev.txt -c constraints.txt
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

# Prompt-injection attack sets through the real pipeline and model -> var/reports/redteam.json
# (one case per category, under 20 minutes on 2 cores; REDTEAM_ARGS="--sample 0" runs every case).
REDTEAM_ARGS ?=
redteam: model migrate
	$(PY) manage.py redteam $(REDTEAM_ARGS)

# Benchmarks (not part of `make test`): figures with their same-run baselines -> var/reports/bench.json
bench: model
	$(PY) -m bench.run

# Load run: 20 citizens for 60 s against the real stack on loopback (isolated DB and index)
# -> var/reports/load.json, headline figures merged into var/reports/bench.json.
load: model
	$(PY) -m bench.load

clean:
	rm -rf var/index var/db.sqlite3 var/celery-*.sqlite3
