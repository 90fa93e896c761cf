# Spool: the commands the README gives. `make run` and `make test` work on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
B ?=
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
# This machine's pip configuration names local indexes that may be absent; hide that noise.
QUIET_PIP := { grep -v "^WARNING: Location" || true; }

.PHONY: run test test-js test-cluster bench lint schema venv services clean

$(VENV)/.installed: requirements/base.txt requirements/dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install -q --disable-pip-version-check -r requirements/dev.txt 2>&1 | $(QUIET_PIP)
	@touch $@

venv: $(VENV)/.installed

services:
	@scripts/services.sh

run: venv services
	@scripts/run.sh

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

clean:
	rm -rf $(VENV) .local staticfiles db.sqlite3
