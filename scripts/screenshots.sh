#!/usr/bin/env bash
# The admin's pictures in docs/screenshots/ (linked from the README), taken at 1366 px by the browser
# test that also checks each page: tests/integration/test_admin_screens.py. Needs what `make test`
# needs (Redis, ClickHouse, Debian's chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-tools.sh
SPOOL_SCREENSHOTS="$PWD/docs/screenshots" .venv/bin/pytest tests/integration/test_admin_screens.py -q -p no:cacheprovider
ls -l docs/screenshots
