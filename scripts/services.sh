#!/usr/bin/env bash
# Make sure Redis and ClickHouse answer on loopback: install them from Debian if missing, start them
# if stopped. PostgreSQL is optional (SQLite is the default database).
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_maybe() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

redis_answers() {
  (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && read -r -t 2 reply <&3 && [[ "$reply" == +PONG* ]]) 2>/dev/null
}

if ! redis_answers; then
  if ! command -v redis-server >/dev/null; then
    echo "installing redis-server from Debian"
    sudo_maybe apt-get update -qq
    DEBIAN_FRONTEND=noninteractive sudo_maybe apt-get install -y -qq redis-server >/dev/null
  fi
  mkdir -p .local/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir "$PWD/.local/redis" --logfile "$PWD/.local/redis/redis.log"
  for _ in $(seq 1 50); do redis_answers && break; sleep 0.1; done
  redis_answers || { echo "redis did not start; see .local/redis/redis.log" >&2; exit 1; }
  echo "redis ready on 127.0.0.1:6379"
fi

scripts/clickhouse.sh install
scripts/clickhouse.sh start >/dev/null
