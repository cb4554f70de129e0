# The newcomer path: `make run` starts the service (gunicorn and the background worker,
# both stopped by Ctrl-C), `make test` runs the tests.
# Each bootstraps its own virtual environment in .venv from the pinned requirements.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
DATA_DIR ?= data

.PHONY: run test test-browser fuzz lint format migrate superuser manage docs docs-serve bench bench-peers bench-similar bench-metadata bench-slow clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime $@

$(VENV)/.docs: requirements-docs.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-docs.txt
	touch $@

$(VENV)/.browser: requirements-browser.txt requirements-dev.txt requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-browser.txt
	touch $(VENV)/.runtime $(VENV)/.dev $@

# The quickstart's own secret key, made once and kept (SECRET_KEY in the environment wins).
$(DATA_DIR)/secret_key:
	mkdir -p $(DATA_DIR)
	umask 077 && $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@

QUICKSTART_ENV = SECRET_KEY="$${SECRET_KEY:-$$(cat $(DATA_DIR)/secret_key)}"

run: $(VENV)/.runtime $(DATA_DIR)/secret_key
	$(QUICKSTART_ENV) $(BIN)/python manage.py migrate --no-input
	$(QUICKSTART_ENV) $(BIN)/python manage.py collectstatic --no-input --verbosity 0
	$(QUICKSTART_ENV) HOST=$(HOST) PORT=$(PORT) exec $(BIN)/python -m imageservice.run_both

migrate: $(VENV)/.runtime $(DATA_DIR)/secret_key
	$(QUICKSTART_ENV) $(BIN)/python manage.py migrate --no-input

superuser: migrate
	$(QUICKSTART_ENV) $(BIN)/python manage.py createsuperuser

# Any management command, on the quickstart's data: make manage ARGS="images_token list".
manage: $(VENV)/.runtime $(DATA_DIR)/secret_key
	@$(QUICKSTART_ENV) $(BIN)/python manage.py migrate --no-input --verbosity 0
	@$(QUICKSTART_ENV) $(BIN)/python manage.py $(ARGS)

# The docs site (mkdocs.yml, docs/) into site/; --strict: a broken link or anchor fails.
docs: $(VENV)/.docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

DOCS_PORT ?= 8001
docs-serve: $(VENV)/.docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --strict --dev-addr $(HOST):$(DOCS_PORT)

# The suite on SQLite, then again on PostgreSQL when TEST_DATABASE_URL names a server
# (pytest-django creates and drops the database test_<name> there itself).
test: $(VENV)/.dev
	env -u DATABASE_URL $(BIN)/python -m pytest $(PYTEST_ARGS)
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "== The same tests on PostgreSQL (TEST_DATABASE_URL)"; \
		DATABASE_URL="$$TEST_DATABASE_URL" $(BIN)/python -m pytest $(PYTEST_ARGS); \
	fi

# The browser suite (tests_browser/): the service under gunicorn as `make run` starts it, in
# a folder of its own, driven in Chromium (apt-get install chromium, or CHROMIUM=/path);
# screenshots of failures in tests_browser/artifacts/.
test-browser: $(VENV)/.browser
	env -u DATABASE_URL $(BIN)/python -m pytest -c tests_browser/pytest.ini tests_browser $(PYTEST_ARGS)

# The fuzzers of `make test`, run longer (docs/operating/index.md, "Fuzzing"); FUZZ_SEED picks other inputs.
FUZZ_EXAMPLES ?= 500
FUZZ_CASES ?= 10000
fuzz: $(VENV)/.dev
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_CASES=$(FUZZ_CASES) \
		$(BIN)/python -m pytest tests/test_fuzz_schema.py tests/test_fuzz_upload.py \
		tests/test_fuzz_multipart.py $(PYTEST_ARGS)

# Similar-image search at 1,000,000 rows on SQLite and PostgreSQL (127.0.0.1:5432), over HTTP.
bench-similar: $(VENV)/.runtime
	$(BIN)/python bench/similar.py $(BENCH_ARGS)

# Tag and metadata filters, ordering and facets at 1,000,000 images on SQLite and
# PostgreSQL (127.0.0.1:5432), over HTTP (docs/design/metadata.md); about 20 min.
bench-metadata: $(VENV)/.runtime
	$(BIN)/python bench/metadata.py $(BENCH_ARGS)

# 64 connections trickling a byte a second, and normal GETs beside them (docs/operating/index.md,
# "Slow clients"); about 2 minutes. BENCH_SERVER=gthread, asgi or waitress: another server
# (docs/design/server.md), for `make bench` too.
bench-slow: $(VENV)/.runtime
	$(BIN)/python -m bench.slow_clients $(BENCH_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The service against its cost floors, in one run (docs/benchmarks.md); about 70 s.
# The dev requirements: the rendition rows set pyvips beside their floor.
bench: $(VENV)/.dev
	$(BIN)/python -m bench

# The service beside thumbor (installed from PyPI into the run's temporary folder), with
# and without its result storage, on the sample photos (docs/design/serving.md); about 3 min.
bench-peers: $(VENV)/.dev
	$(BIN)/python -m bench.peers $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis site
