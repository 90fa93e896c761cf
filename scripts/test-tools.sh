#!/usr/bin/env bash
# Tools the test suite drives besides Redis and ClickHouse: Node.js (the published JS SDK is run
# against a live server), PostgreSQL's binaries (the health test stops a private server of its
# own), Chromium (the explorer's browser test drives it headless through Playwright; never
# `playwright install`) and libfaketime (tests/integration/test_days.py runs a web server whose
# clock is a day ahead). Installed from Debian when missing.
set -euo pipefail

sudo_maybe() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
command -v chromium >/dev/null || missing+=(chromium)
command -v faketime >/dev/null || missing+=(faketime)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} from Debian"
  sudo_maybe apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_maybe apt-get install -y -qq "${missing[@]}" >/dev/null
fi
