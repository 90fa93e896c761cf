#!/usr/bin/env bash
# The JS client (clients/js, spool-offline): installs Node.js and npm from Debian when missing, then
# `npm ci`, the build and the unit tests (node --test, about 20 s). `make test` and `make test-js` run it.
# Quiet when it passes (the test summary only); the whole log when it fails.
set -euo pipefail
cd "$(dirname "$0")/../clients/js"

sudo_maybe() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "installing nodejs and npm from Debian"
  sudo_maybe apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_maybe apt-get install -y -qq nodejs npm >/dev/null
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 18 ]; then
  echo "clients/js needs Node.js 18 or later (fetch, CompressionStream, node --test); this is $(node --version)" >&2
  exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
step() { # a step's output is shown only when it fails
  if ! "$@" >>"$log" 2>&1; then
    cat "$log" >&2
    echo "clients/js: '$*' failed" >&2
    exit 1
  fi
}
step npm ci --no-audit --no-fund --loglevel=error
step npm run build
step npm test
passed=$(sed -n 's/^# pass //p' "$log")
failed=$(sed -n 's/^# fail //p' "$log")
echo "clients/js, node $(node --version):"
echo "spool-offline: ${passed:-0} passed, ${failed:-0} failed"
