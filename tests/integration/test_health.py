"""Spec §1: GET /healthz is 200 while the database, Redis and ClickHouse answer, 503 naming the one that does not."""
import time

import pytest
import requests

from tests.support.live import LiveStack
from tests.support.postgres import PrivatePostgres
from tests.support.servers import PrivateClickHouse, PrivateRedis
from tests.support.waiting import eventually

ALL_OK = {"database": "ok", "redis": "ok", "clickhouse": "ok"}


@pytest.mark.django_db
def test_healthz_answers_ok_when_everything_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": ALL_OK}


def _health(stack: LiveStack) -> requests.Response:
    return requests.get(f"{stack.url}/healthz", timeout=15)


def _wait_until_healthy(stack: LiveStack) -> None:
    # A restarted server is answered once the web worker drops its broken connection (one request).
    eventually(lambda: _health(stack).status_code == 200, 20, what="healthy again")


def test_healthz_names_each_stopped_service(tmp_path):
    redis = PrivateRedis(tmp_path / "redis")
    (tmp_path / "redis").mkdir()
    clickhouse, postgres = PrivateClickHouse(), PrivatePostgres()
    stack = None
    try:
        redis.start()
        clickhouse.start()
        postgres.start()
        stack = LiveStack(
            tmp_path, redis_url=redis.url(), DATABASE_URL=postgres.url(), CLICKHOUSE_URL=clickhouse.url("spool_health")
        )
        stack.manage("clickhouse_migrate")
        stack.start(workers=0, web_workers=1)
        first = _health(stack)
        assert first.status_code == 200 and first.json()["checks"] == ALL_OK

        for name, server in (("redis", redis), ("clickhouse", clickhouse), ("database", postgres)):
            server.stop()
            started = time.monotonic()
            response = _health(stack)
            assert time.monotonic() - started < 10
            assert response.status_code == 503, name
            body = response.json()
            assert body["error"] == "unavailable" and body["status"] == "unavailable"
            assert body["message"] == f"not answering: {name}"
            assert body["checks"][name].startswith("error: ")
            assert {other: state for other, state in body["checks"].items() if other != name} == {
                other: "ok" for other in ALL_OK if other != name
            }
            server.start()
            _wait_until_healthy(stack)
    finally:
        if stack is not None:
            stack.stop()
        redis.remove()
        clickhouse.remove()
        postgres.remove()
