#!/usr/bin/env bash
# A two-shard ClickHouse cluster on loopback, for trying and testing CLICKHOUSE_CLUSTER:
# ZooKeeper (Debian's package) plus two clickhouse-server nodes, each one shard of `spool_cluster`.
#
#   scripts/clickhouse-cluster.sh start [DIR]   install what is missing, start ZooKeeper and both nodes
#   scripts/clickhouse-cluster.sh stop  [DIR]
#
# Ports: ZooKeeper 2281; node 1 tcp 9101 (http 8124); node 2 tcp 9102 (http 8125).
# Then: CLICKHOUSE_CLUSTER=spool_cluster CLICKHOUSE_URL=clickhouse://default:@127.0.0.1:9101/spool
set -euo pipefail
cd "$(dirname "$0")/.."

cmd=${1:-start}
dir=$(realpath -m "${2:-.local/cluster}")
zk_port=${ZK_PORT:-2281}
ports=(9101 9102)
http_ports=(8124 8125)
inter_ports=(9111 9112)

sudo_maybe() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

zk_answers() {
  # ZooKeeper answers "imok" without a newline and closes the connection.
  [ "$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$zk_port && printf ruok >&3 && cat <&3" 2>/dev/null)" = imok ]
}

node_config() {  # shard number, replica name
  cat <<XML
<?xml version="1.0"?>
<yandex>
  <remote_servers>
    <spool_cluster>
      <shard><internal_replication>true</internal_replication>
        <replica><host>127.0.0.1</host><port>${ports[0]}</port></replica></shard>
      <shard><internal_replication>true</internal_replication>
        <replica><host>127.0.0.1</host><port>${ports[1]}</port></replica></shard>
    </spool_cluster>
  </remote_servers>
  <zookeeper><node><host>127.0.0.1</host><port>$zk_port</port></node></zookeeper>
  <macros><shard>0$1</shard><replica>$2</replica></macros>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
</yandex>
XML
}

case "$cmd" in
start)
  scripts/clickhouse.sh install
  if [ ! -x /usr/share/zookeeper/bin/zkServer.sh ]; then
    echo "installing zookeeper from Debian"
    DEBIAN_FRONTEND=noninteractive sudo_maybe apt-get install -y -qq --no-install-recommends zookeeper >/dev/null
  fi
  mkdir -p "$dir/zk/data"
  if ! zk_answers; then
    cat >"$dir/zk/zoo.cfg" <<CFG
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$dir/zk/data
clientPort=$zk_port
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok,stat
CFG
    ZOOCFGDIR="$dir/zk" ZOO_LOG_DIR="$dir/zk" /usr/share/zookeeper/bin/zkServer.sh start "$dir/zk/zoo.cfg" >/dev/null
    for _ in $(seq 1 100); do zk_answers && break; sleep 0.2; done
    zk_answers || { echo "zookeeper did not start; see $dir/zk" >&2; exit 1; }
  fi
  for i in 0 1; do
    node="$dir/node$((i + 1))"
    mkdir -p "$node/config.d"
    node_config $((i + 1)) "n$((i + 1))" >"$node/config.d/cluster.xml"
    CH_TCP_PORT=${ports[$i]} CH_HTTP_PORT=${http_ports[$i]} CH_INTERSERVER_PORT=${inter_ports[$i]} \
      scripts/clickhouse.sh start "$node"
  done
  ;;
stop)
  for i in 0 1; do CH_TCP_PORT=${ports[$i]} scripts/clickhouse.sh stop "$dir/node$((i + 1))"; done
  if [ -f "$dir/zk/zoo.cfg" ]; then
    ZOOCFGDIR="$dir/zk" ZOO_LOG_DIR="$dir/zk" /usr/share/zookeeper/bin/zkServer.sh stop "$dir/zk/zoo.cfg" >/dev/null || true
  fi
  ;;
*)
  echo "usage: $0 start|stop [DIR]" >&2; exit 2 ;;
esac
