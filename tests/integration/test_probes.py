"""Contract §1 (r2): /livez calls nothing outside the process; /readyz needs the database and Redis,
and a ClickHouse outage never fails it (Redis absorbs it), while /healthz names ClickHouse."""
import pytest
import requests

from tests.support.events import track
from tests.support.live import LiveStack
from tests.support.servers import PrivateClickHouse, PrivateRedis
from tests.support.waiting import eventually


@pytest.mark.django_db
def test_probes_answer_in_process(client):
    assert client.get("/livez").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_readyz_holds_while_clickhouse_is_stopped_and_fails_without_redis(tmp_path):
    (tmp_path / "redis").mkdir()
    redis, clickhouse = PrivateRedis(tmp_path / "redis"), PrivateClickHouse()
    stack = None
    try:
        redis.start()
        clickhouse.start()
        stack = LiveStack(tmp_path, redis_url=redis.url(), CLICKHOUSE_URL=clickhouse.url("spool_probes"))
        stack.manage("clickhouse_migrate")
        stack.start(workers=0, web_workers=1)
        project = stack.create_project("--name", "Probed")
        headers = {"openpanel-client-id": project["client_id"], "openpanel-client-secret": project["client_secret"]}

        clickhouse.stop()
        ready = requests.get(f"{stack.url}/readyz", timeout=10)
        assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "redis": "ok"}
        health = requests.get(f"{stack.url}/healthz", timeout=10)
        assert health.status_code == 503 and health.json()["message"] == "not answering: clickhouse"
        assert requests.get(f"{stack.url}/livez", timeout=5).json() == {"status": "ok"}
        # And the process is indeed ready: events are accepted while ClickHouse is away.
        assert requests.post(f"{stack.url}/track", json=track("during"), headers=headers, timeout=10).status_code == 200

        redis.stop()
        ready = requests.get(f"{stack.url}/readyz", timeout=15)
        assert ready.status_code == 503 and ready.json()["message"] == "not answering: redis"
        assert ready.json()["checks"]["redis"].startswith("error: ")
        assert requests.get(f"{stack.url}/livez", timeout=5).status_code == 200  # no outside call
        redis.start()
        eventually(lambda: requests.get(f"{stack.url}/readyz", timeout=10).status_code == 200, 20, what="ready again")
    finally:
        if stack is not None:
            stack.stop()
        redis.remove()
        clickhouse.remove()


def test_the_worker_health_check(tmp_path):
    import subprocess

    stack = LiveStack(tmp_path)
    try:
        stack.start(workers=1, web_workers=1)
        eventually(lambda: "ok: " in stack.manage("check_worker"), 30, what="the worker's heartbeat",
                   ignoring=(subprocess.CalledProcessError,))  # fmt: skip
        stack.kill_workers()  # SIGKILL: it says goodbye to no one; its heartbeat just stops
        with pytest.raises(subprocess.CalledProcessError) as failed:
            eventually(lambda: stack.manage("check_worker") and False, 90, every=5, what="the check to fail",
                       ignoring=())  # fmt: skip
        assert "has beaten lately" in failed.value.stderr
    finally:
        stack.stop()
