#!/usr/bin/env bash
# `make run`: migrate, make sure the demo project exists, then serve the API on 127.0.0.1:8000
# (gunicorn) with an RQ worker (and its scheduler) beside it. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBUG="${DEBUG:-1}"
PY=.venv/bin/python

$PY manage.py migrate --noinput -v0
$PY manage.py clickhouse_migrate
$PY manage.py collectstatic --noinput -v0
$PY manage.py demo_project

$PY manage.py runworker &
worker=$!
trap 'kill "$worker" 2>/dev/null || true' EXIT INT TERM
# gunicorn.conf.py (read from here) sets the worker class, processes and threads, as in the image.
.venv/bin/gunicorn config.wsgi:application --bind 127.0.0.1:8000 --access-logfile -
