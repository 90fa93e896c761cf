"""CLICKHOUSE_CLUSTER: replicated local tables, Distributed tables over two shards (ZooKeeper).

Marked `cluster`: `make test-cluster` runs it (and .ci/run does); it starts ZooKeeper and two
ClickHouse servers on loopback with scripts/clickhouse-cluster.sh.
"""
import subprocess
import uuid

import pytest
from clickhouse_driver import Client
from django.test import override_settings

from storage.clickhouse import client as clickhouse
from storage.clickhouse.schema.migrate import migrate
from tests.support import stored
from tests.support.events import at, now_ms
from tests.support.live import ROOT
from tests.support.worker import drain

pytestmark = [pytest.mark.cluster, pytest.mark.django_db]
NODES = (9101, 9102)
WINDOW = 1_800_000


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cluster")
    script = ROOT / "scripts" / "clickhouse-cluster.sh"
    subprocess.run([script, "start", directory], check=True, timeout=600)
    database = f"spool_cluster_{uuid.uuid4().hex[:10]}"
    url = f"clickhouse://default:@127.0.0.1:{NODES[0]}/{database}"
    with override_settings(CLICKHOUSE_URL=url, CLICKHOUSE_CLUSTER="spool_cluster"):
        migrate(database, "spool_cluster")
        yield database
        clickhouse.client(with_database=False).execute(f"DROP DATABASE IF EXISTS {database} ON CLUSTER spool_cluster")
    clickhouse.reset_clients()
    subprocess.run([script, "stop", directory], check=True, timeout=120)


def local_rows(database: str, port: int, project_id: str) -> list[tuple[str, str]]:
    node = Client("127.0.0.1", port=port)
    return node.execute(
        f"SELECT device_id, name FROM {database}.events_local WHERE project_id = %(p)s", {"p": project_id}
    )


def test_migrations_create_replicated_and_distributed_tables(cluster):
    for port in NODES:
        engines = dict(Client("127.0.0.1", port=port).execute(
            "SELECT name, engine FROM system.tables WHERE database = %(d)s", {"d": cluster}
        ))  # fmt: skip
        assert engines["events_local"] == "ReplicatedReplacingMergeTree"
        assert engines["events"] == "Distributed"
        assert engines["profiles"] == engines["groups"] == "Distributed"
    assert migrate(cluster, "spool_cluster") == []  # idempotent


def test_events_are_spread_over_both_shards_once_each(cluster, api, project):
    start = (now_ms() - 86_400_000) // WINDOW * WINDOW
    body = {"events": [at("reading", start + 60_000 + i * 500, device=f"device-{i % 40}", i=i) for i in range(1200)]}
    assert api.post("/track/batch", body, format="json").json()["accepted"] == 1200
    drain()
    assert api.post("/track/batch", body, format="json").json()["accepted"] == 1200  # re-sent
    drain()

    assert stored.count(project.id, "name = 'reading'") == 1200
    assert stored.count(project.id, "name = 'session_start'") == 40
    per_node = [local_rows(cluster, port, project.id) for port in NODES]
    devices = [{device for device, _ in rows} for rows in per_node]
    assert devices[0] and devices[1], "both shards hold events"
    assert not devices[0] & devices[1], "a device lives on one shard"
    for port in NODES:
        Client("127.0.0.1", port=port).execute(f"OPTIMIZE TABLE {cluster}.events_local FINAL")
    assert stored.count(project.id, "name = 'reading'", final=False) == 1200


def test_profiles_are_read_back_through_the_cluster(cluster, api, project):
    identify = {"type": "identify", "payload": {"profileId": "cluster-user", "firstName": "Ada"}}
    assert api.post("/track", identify, format="json").status_code == 200
    drain()
    assert stored.profile(project.id, "cluster-user")["first_name"] == "Ada"
