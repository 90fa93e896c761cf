#!/usr/bin/env bash
# Make sure Redis and ClickHouse answer on loopback: install them from Debian if missing, start them
# if stopped. PostgreSQL is optional (SQLite is the default database).
#   scripts/services.sh          both (what `make run` and `make test` call)
#   scripts/services.sh redis    Redis only; SPOOL_REDIS_PORT (6379) and SPOOL_REDIS_DIR (.local/redis)
#                                choose another one, as the test that restarts it does
set -euo pipefail
cd "$(dirname "$0")/.."

REDIS_PORT="${SPOOL_REDIS_PORT:-6379}"
REDIS_DIR="${SPOOL_REDIS_DIR:-$PWD/.local/redis}"

sudo_maybe() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

redis_answers() {
  (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT" && printf 'PING\r\n' >&3 && read -r -t 2 reply <&3 && [[ "$reply" == +PONG* ]]) 2>/dev/null
}

warn_if_not_persistent() {
  command -v redis-cli >/dev/null || return 0
  if [ "$(redis-cli -p "$REDIS_PORT" config get appendonly 2>/dev/null | tail -n 1)" = no ]; then
    echo "warning: the Redis on 127.0.0.1:$REDIS_PORT does not persist (appendonly no): a restart loses the" \
      "events waiting in it. Turn it on now with: redis-cli -p $REDIS_PORT config set appendonly yes" >&2
  fi
}

start_redis() {
  if redis_answers; then echo "==> Redis answers on 127.0.0.1:$REDIS_PORT"; warn_if_not_persistent; return; fi
  if ! command -v redis-server >/dev/null; then
    echo "==> installing redis-server from Debian"
    sudo_maybe apt-get update -qq
    DEBIAN_FRONTEND=noninteractive sudo_maybe apt-get install -y -qq redis-server >/dev/null
  fi
  mkdir -p "$REDIS_DIR"
  # Persistence (AOF, fsync every second) is in config/redis.conf, which compose reads too: queued
  # events and the known-profile set survive a restart (docs/operations.md, "Redis persistence").
  redis-server "$PWD/config/redis.conf" --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" \
    --dir "$REDIS_DIR" --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log"
  # A restart first reads the append-only file back (PING answers LOADING until then): allow 60 s.
  for _ in $(seq 1 600); do redis_answers && break; sleep 0.1; done
  redis_answers || { echo "redis did not start; see $REDIS_DIR/redis.log" >&2; exit 1; }
  echo "==> Redis ready on 127.0.0.1:$REDIS_PORT ($REDIS_DIR)"
}

start_redis
if [ "${1:-all}" = redis ]; then exit 0; fi

scripts/clickhouse.sh install
echo "==> ClickHouse: $(scripts/clickhouse.sh start)"
