#!/usr/bin/env bash
# `make stop`: stop what `make run` started, and only that, from its pid files under .local/: the
# web server and the worker, then the Redis and the ClickHouse that scripts/services.sh started
# there. A Redis or ClickHouse that was already running (a system service, another checkout's) has
# no pid file here and is left alone. The same variables as services.sh choose another Redis or
# ClickHouse (SPOOL_REDIS_PORT, SPOOL_REDIS_DIR, CH_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

REDIS_DIR="${SPOOL_REDIS_DIR:-$PWD/.local/redis}"

stop_pid_file() {  # stop_pid_file NAME FILE: SIGTERM, then wait up to 30 s for it to exit
  local name=$1 file=$2 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then echo "$name ($pid) is still stopping" >&2; return 1; fi
    echo "stopped $name"
  fi
  rm -f "$file"
}

stop_pid_file "the web server" .local/run/web.pid
stop_pid_file "the worker" .local/run/worker.pid
# Redis writes its append-only file on SIGTERM: queued events are kept for the next `make run`.
stop_pid_file "Redis" "$REDIS_DIR/redis.pid"
ch_dir="${CH_DIR:-.local/clickhouse}"
if [ -f "$ch_dir/ch.pid" ]; then
  scripts/clickhouse.sh stop "$ch_dir"
  echo "stopped ClickHouse"
fi
