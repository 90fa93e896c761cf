# Spool: the commands the README gives. `make run` and `make test` work on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
B ?=
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
# This machine's pip configuration names local indexes that may be absent; hide that noise.
QUIET_PIP := { grep -v "^WARNING: Location" || true; }

.PHONY: run stop test test-js test-cluster bench lint schema venv runtime services clean

# Two steps: `make run` needs the runtime requirements alone (about 170 MB, ~20 s); tests, benchmarks
# and lint add the development ones (chdb, pyarrow, playwright, mypy: over 1 GB, minutes).
$(VENV)/.runtime: requirements/base.txt
	@test -x $(BIN)/python || { echo "==> creating .venv ($(PYTHON))"; $(PYTHON) -m venv $(VENV); }
	@echo "==> installing the runtime requirements (requirements/base.txt) into .venv"
	@$(BIN)/pip install -q --disable-pip-version-check -r requirements/base.txt 2>&1 | $(QUIET_PIP)
	@touch $@

$(VENV)/.installed: $(VENV)/.runtime requirements/dev.txt
	@echo "==> installing the development requirements (requirements/dev.txt: tests, benchmarks, lint; over 1 GB)"
	@$(BIN)/pip install -q --disable-pip-version-check -r requirements/dev.txt 2>&1 | $(QUIET_PIP)
	@touch $@

runtime: $(VENV)/.runtime
venv: $(VENV)/.installed

services:
	@scripts/services.sh

run: runtime services
	@scripts/run.sh

# Stops what `make run` started: the web server and worker, and the Redis and ClickHouse under .local/.
stop:
	@scripts/stop.sh

# The suite mostly waits on servers and subprocesses: a few processes share the CPUs well. Each takes
# its own pair of Redis databases below TEST_REDIS_URL's (config/settings/test.py).
TEST_PROCESSES ?= 3

test: venv services
	@scripts/test-tools.sh
	@scripts/js-client.sh
	$(BIN)/pytest -n $(TEST_PROCESSES) --dist worksteal

# The JS client alone (clients/js): npm ci, its build and its unit tests.
test-js:
	@scripts/js-client.sh

test-cluster: venv services
	$(BIN)/pytest -m cluster

bench: venv services
	@scripts/bench-tools.sh
	@$(BIN)/python -m bench $(B)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

schema: venv
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file openapi.yaml

# Stops first: deleting .local/ under a running ClickHouse or Redis leaves them writing into nothing.
clean: stop
	rm -rf $(VENV) .local staticfiles db.sqlite3
