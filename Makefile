# The two commands of the quick start are `make run` and `make test`; the rest help.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
PYTEST_ARGS ?=
# Run again with the documents in a bucket of a private Ceph gateway (issue 24): every test
# that stores, files, serves, erases or purges a document.
DOCUMENT_TESTS = tests/test_apply.py tests/test_hostile_documents.py \
  tests/test_document_viewer.py tests/test_erasure.py tests/test_retention.py \
  tests/test_review_authz.py tests/test_authz_matrix.py tests/test_verify.py \
  tests/test_status.py tests/test_mail_in.py tests/test_mail_fetch_desk.py \
  tests/test_applications_api.py tests/test_appeal_original.py

.PHONY: run test test-sqlite test-postgres lint pg-up migrations i18n bench clean

$(VENV)/.stamp-run: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.stamp-test: pyproject.toml $(VENV)/.stamp-run
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# Browser tests drive Debian's Chromium (Playwright's own download cannot work here) and
# check pages with axe-core; Noto fonts so Devanagari renders as text, not boxes.
AXE := .cache/axe/node_modules/axe-core/axe.min.js
AXE_VERSION := 4.11.0
$(VENV)/.stamp-browser: $(VENV)/.stamp-test
	@if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -qi "Noto Sans Devanagari"; then \
	  echo "installing chromium and fonts-noto-core (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    chromium fonts-noto-core >/dev/null; \
	fi
	@test -f $(AXE) || npm install --silent --no-audit --no-fund --prefix .cache/axe \
	  axe-core@$(AXE_VERSION)
	touch $@

# The IMAP tests run a private Dovecot of their own (tests/servers/dovecot.py: its own
# config and free loopback ports), never the system's service on 143/993.
$(VENV)/.stamp-mail: | $(VENV)/.stamp-run
	@if [ ! -x /usr/sbin/dovecot ]; then \
	  echo "installing dovecot-imapd (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    dovecot-imapd >/dev/null; \
	fi
	touch $@

# The S3 tests run a private Ceph cluster (tests/servers/radosgw.py: a monitor, a memstore
# OSD and radosgw on free loopback ports, its own config in a temp dir), never a system one.
$(VENV)/.stamp-ceph: | $(VENV)/.stamp-run
	@if [ ! -x /usr/bin/radosgw ] || [ ! -x /usr/bin/ceph-osd ] || [ ! -x /usr/bin/ceph-mon ]; then \
	  echo "installing ceph-mon ceph-osd radosgw (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends ceph-mon ceph-osd radosgw >/dev/null; \
	fi
	touch $@

# The worker reads receipts with Tesseract (issue 26: support/documents/reading.py) in
# English, Hindi, Marathi and Russian; without it a desk still reads barcodes.
$(VENV)/.stamp-ocr: | $(VENV)/.stamp-run
	@if [ ! -x /usr/bin/tesseract ] || ! ls /usr/share/tesseract-ocr/*/tessdata/mar.traineddata \
	    >/dev/null 2>&1; then \
	  echo "installing tesseract-ocr with eng, hin, mar, rus (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends tesseract-ocr tesseract-ocr-eng tesseract-ocr-hin \
	    tesseract-ocr-mar tesseract-ocr-rus >/dev/null; \
	fi
	touch $@

run: $(VENV)/.stamp-run
	$(BIN)/support migrate
	$(BIN)/support bootstrap
	PORT=$(PORT) $(BIN)/support serve

# Both databases, each on a fresh database; fails if either run fails.
test: $(VENV)/.stamp-test $(VENV)/.stamp-browser $(VENV)/.stamp-mail $(VENV)/.stamp-ceph $(VENV)/.stamp-ocr pg-up
	@rc=0; \
	echo "=== tests on SQLite ==="; \
	SUPPORT_TEST_DB=sqlite $(BIN)/python -m pytest $(PYTEST_ARGS) || rc=1; \
	echo "=== document tests on SQLite, documents in S3 ==="; \
	SUPPORT_TEST_DB=sqlite SUPPORT_TEST_STORE=s3 $(BIN)/python -m pytest $(PYTEST_ARGS) \
	  $(DOCUMENT_TESTS) || rc=1; \
	echo "=== tests on PostgreSQL ==="; \
	SUPPORT_TEST_DB=postgres $(BIN)/python -m pytest $(PYTEST_ARGS) || rc=1; \
	echo "=== document tests on PostgreSQL, documents in S3 ==="; \
	SUPPORT_TEST_DB=postgres SUPPORT_TEST_STORE=s3 $(BIN)/python -m pytest $(PYTEST_ARGS) \
	  $(DOCUMENT_TESTS) || rc=1; \
	exit $$rc

test-sqlite: $(VENV)/.stamp-test $(VENV)/.stamp-browser $(VENV)/.stamp-mail $(VENV)/.stamp-ceph $(VENV)/.stamp-ocr
	SUPPORT_TEST_DB=sqlite $(BIN)/python -m pytest $(PYTEST_ARGS)

test-postgres: $(VENV)/.stamp-test $(VENV)/.stamp-browser $(VENV)/.stamp-mail $(VENV)/.stamp-ceph $(VENV)/.stamp-ocr pg-up
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
	$(BIN)/lint-imports --no-cache

# After changing support/data/models.py: writes the next migration under support/data/migrations/.
migrations: $(VENV)/.stamp-run
	SUPPORT_DATA_DIR=$$(mktemp -d) $(BIN)/tortoise makemigrations

# Benchmarks (not in CI; about 15 minutes, B2's million rows most of it): each prints the
# machine and its figures and appends them to bench/results.md. bench/README.md explains.
bench: $(VENV)/.stamp-test pg-up
	@command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq wrk >/dev/null; }
	$(BIN)/python bench/b1_submit.py
	$(BIN)/python bench/b1_worker.py
	$(BIN)/python bench/b2_queue.py
	$(BIN)/python bench/b3_claim.py
	$(BIN)/python bench/b4_uploads.py
	$(BIN)/python bench/b5_reports.py
	$(BIN)/python bench/b6_sqlite_export.py
	$(BIN)/python bench/b8_permission_api.py
	$(BIN)/python bench/b9_mail_in.py

# Extracts every applicant-facing string into the template and merges it into each
# language's catalogue; translate the new or fuzzy entries, then run the tests.
I18N_DIR := support/platform/translations
I18N_LANGS := hi mr ru
i18n: $(VENV)/.stamp-run
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k FieldError -k DomainError \
	  --no-location --sort-output --omit-header -o $(I18N_DIR)/messages.pot .
	@for lang in $(I18N_LANGS); do \
	  if [ -f $(I18N_DIR)/$$lang/LC_MESSAGES/messages.po ]; then \
	    $(BIN)/pybabel update --ignore-obsolete -i $(I18N_DIR)/messages.pot \
	      -d $(I18N_DIR) -l $$lang; \
	  else \
	    $(BIN)/pybabel init -i $(I18N_DIR)/messages.pot -d $(I18N_DIR) -l $$lang; \
	  fi; \
	done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .cache test-artifacts
