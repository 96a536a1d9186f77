# The two commands of the quick start are `make run` and `make test`; the rest help.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test test-sqlite test-postgres lint pg-up migrations clean

$(VENV)/.stamp-run: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.stamp-test: pyproject.toml $(VENV)/.stamp-run
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: $(VENV)/.stamp-run
	$(BIN)/support migrate
	$(BIN)/support bootstrap
	PORT=$(PORT) $(BIN)/support serve

# Both databases, each on a fresh database; fails if either run fails.
test: $(VENV)/.stamp-test pg-up
	@rc=0; \
	echo "=== tests on SQLite ==="; \
	SUPPORT_TEST_DB=sqlite $(BIN)/python -m pytest $(PYTEST_ARGS) || rc=1; \
	echo "=== tests on PostgreSQL ==="; \
	SUPPORT_TEST_DB=postgres $(BIN)/python -m pytest $(PYTEST_ARGS) || rc=1; \
	exit $$rc

test-sqlite: $(VENV)/.stamp-test
	SUPPORT_TEST_DB=sqlite $(BIN)/python -m pytest $(PYTEST_ARGS)

test-postgres: $(VENV)/.stamp-test pg-up
	SUPPORT_TEST_DB=postgres $(BIN)/python -m pytest $(PYTEST_ARGS)

pg-up:
	@pg_isready -q -h 127.0.0.1 -p 5432 || { \
	  echo "starting PostgreSQL"; \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start; \
	  for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; }
	@pg_isready -h 127.0.0.1 -p 5432

lint: $(VENV)/.stamp-test
	$(BIN)/ruff check support tests bench
	$(BIN)/mypy

# After changing support/models.py: writes the next migration under support/migrations/.
migrations: $(VENV)/.stamp-run
	SUPPORT_DATA_DIR=$$(mktemp -d) $(BIN)/tortoise makemigrations

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
