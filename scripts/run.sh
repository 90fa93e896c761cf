#!/usr/bin/env bash
# `make run`: migrate, make sure the demo project exists, then serve the API on 127.0.0.1:8000
# (gunicorn) with an RQ worker (and its scheduler) beside it, and say where everything is. Ctrl-C,
# or `make stop` from another terminal, stops both (`make stop` also stops the Redis and ClickHouse
# that `make` started). SPOOL_WEB_PORT serves on another port.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBUG="${DEBUG:-1}"
PY=.venv/bin/python
PORT="${SPOOL_WEB_PORT:-8000}"
URL="http://127.0.0.1:$PORT"
RUN_DIR=.local/run  # the pid files `make stop` reads
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

say "database: applying migrations"
$PY manage.py migrate --noinput -v0
say "ClickHouse: applying the schema"
$PY manage.py clickhouse_migrate
say "static files for the admin and the API docs"
$PY manage.py collectstatic --noinput -v0

mkdir -p "$RUN_DIR"
stop_all() {
  trap - EXIT INT TERM
  for name in web worker; do
    if [ -f "$RUN_DIR/$name.pid" ]; then kill "$(cat "$RUN_DIR/$name.pid")" 2>/dev/null || true; fi
  done
  wait 2>/dev/null || true
  rm -f "$RUN_DIR/web.pid" "$RUN_DIR/worker.pid"
}
trap stop_all EXIT INT TERM

say "starting the worker (manage.py runworker: events, sessions, periodic jobs)"
$PY manage.py runworker &
echo $! >"$RUN_DIR/worker.pid"
say "starting the web server on $URL (gunicorn, gunicorn.conf.py)"
# gunicorn.conf.py (read from here) sets the worker class, processes and threads, as in the image.
.venv/bin/gunicorn config.wsgi:application --bind "127.0.0.1:$PORT" --access-logfile - &
echo $! >"$RUN_DIR/web.pid"
for _ in $(seq 1 300); do
  curl -fs "$URL/livez" >/dev/null 2>&1 && break
  kill -0 "$(cat "$RUN_DIR/web.pid")" 2>/dev/null || { echo "the web server stopped; see its lines above" >&2; exit 1; }
  sleep 0.1
done

echo
$PY manage.py demo_project --url "$URL"
cat <<TEXT

Spool is running at $URL/
  the admin      $URL/admin/
                 first make a superuser, in another terminal: .venv/bin/python manage.py createsuperuser
  the API docs   $URL/api/docs/
  health         $URL/admin/spool/health/  (and $URL/healthz)
Ctrl-C stops the web server and the worker; \`make stop\` also stops Redis and ClickHouse.

TEXT
wait
