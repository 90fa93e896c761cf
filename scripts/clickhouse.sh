#!/usr/bin/env bash
# Install (Debian package), start, stop or check a private ClickHouse server on loopback.
#
#   scripts/clickhouse.sh install          apt-get install clickhouse-server if it is missing
#   scripts/clickhouse.sh start [DIR]      start a server whose data, logs and config live in DIR
#   scripts/clickhouse.sh stop  [DIR]
#   scripts/clickhouse.sh status [DIR]     exit 0 when the server answers
#
# Ports come from CH_TCP_PORT (9000), CH_HTTP_PORT (8123) and CH_INTERSERVER_PORT (9009).
# Extra XML (cluster, ZooKeeper, macros) can be dropped into DIR/config.d/ before `start`.
set -euo pipefail

cmd=${1:-status}
dir=$(realpath -m "${2:-${CH_DIR:-.local/clickhouse}}")
tcp=${CH_TCP_PORT:-9000}
http=${CH_HTTP_PORT:-8123}
inter=${CH_INTERSERVER_PORT:-9009}

sudo_maybe() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

answers() { clickhouse-client --host 127.0.0.1 --port "$tcp" -q "SELECT 1" >/dev/null 2>&1; }

case "$cmd" in
install)
  if ! command -v clickhouse-server >/dev/null; then
    echo "==> installing clickhouse-server from Debian"
    sudo_maybe apt-get update -qq
    DEBIAN_FRONTEND=noninteractive sudo_maybe apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null
  fi
  ;;
start)
  if answers; then echo "clickhouse already answers on 127.0.0.1:$tcp"; exit 0; fi
  mkdir -p "$dir/data" "$dir/log" "$dir/config.d"
  cat >"$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$dir/log/server.log</log><errorlog>$dir/log/server.err.log</errorlog><size>50M</size><count>2</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>$tcp</tcp_port><http_port>$http</http_port><interserver_http_port>$inter</interserver_http_port>
  <max_connections>256</max_connections><max_concurrent_queries>100</max_concurrent_queries>
  <uncompressed_cache_size>268435456</uncompressed_cache_size><mark_cache_size>268435456</mark_cache_size>
  <path>$dir/data/</path>
  <users_config>/etc/clickhouse-server/users.xml</users_config>
  <default_profile>default</default_profile><default_database>default</default_database>
  <timezone>UTC</timezone>
</yandex>
XML
  # As root, run the server as the package's `clickhouse` user when it can reach DIR (a private
  # temporary directory may not be reachable); 18.16 also runs as root.
  if [ "$(id -u)" = 0 ] && id clickhouse >/dev/null 2>&1 && chown -R clickhouse:clickhouse "$dir" \
     && su -s /bin/sh clickhouse -c "test -w '$dir/data'"; then
    su -s /bin/sh clickhouse -c "clickhouse-server --config-file=$dir/config.xml --pid-file=$dir/ch.pid --daemon"
  else
    clickhouse-server --config-file="$dir/config.xml" --pid-file="$dir/ch.pid" --daemon
  fi
  for _ in $(seq 1 100); do answers && { echo "clickhouse ready on 127.0.0.1:$tcp ($dir)"; exit 0; }; sleep 0.1; done
  echo "clickhouse did not answer on 127.0.0.1:$tcp; see $dir/log/server.err.log" >&2
  exit 1
  ;;
stop)
  if [ -f "$dir/ch.pid" ]; then
    pid=$(cat "$dir/ch.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$dir/ch.pid"
  fi
  ;;
status)
  answers
  ;;
*)
  echo "usage: $0 install|start|stop|status [DIR]" >&2; exit 2 ;;
esac
