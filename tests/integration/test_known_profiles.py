"""Issue 9, finding 12, contract §10: an increment or decrement of a profile never waits for
ClickHouse. Redis knows every profile (marks without expiry, written on identify and on every
profile write, loaded once from ClickHouse for existing deployments), so the API answers 404 for an
unknown profile from Redis alone, even while ClickHouse hangs."""
import socket
import time

import pytest
from django.core.management import call_command

from storage.redis import client as redis
from storage.redis import keys
from tests.support import stored
from tests.support.worker import drain

pytestmark = pytest.mark.django_db


@pytest.fixture
def hung_clickhouse(settings):
    """A ClickHouse that accepts connections and never answers (the incident: one request held a
    web worker for the 60 s timeout)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    real = settings.CLICKHOUSE_URL
    settings.CLICKHOUSE_URL = f"clickhouse://default:@127.0.0.1:{listener.getsockname()[1]}/hung"
    yield real
    listener.close()


def post(client, body) -> tuple[float, object]:
    started = time.monotonic()
    response = client.post("/track", body, format="json")
    return time.monotonic() - started, response


def increment(profile_id: str) -> dict:
    return {"type": "increment", "payload": {"profileId": profile_id, "property": "n"}}


def identify(profile_id: str) -> dict:
    return {"type": "identify", "payload": {"profileId": profile_id}}


def test_an_unknown_profile_is_refused_at_once_while_clickhouse_hangs(api, hung_clickhouse):
    seconds, response = post(api, increment("nobody"))
    assert response.status_code == 404 and seconds < 2
    started = time.monotonic()
    body = api.post("/track/batch", {"events": [increment("nobody"), increment("nor-me")]}, format="json").json()
    assert time.monotonic() - started < 2
    assert [row["index"] for row in body["rejected"]] == [0, 1]


def test_a_profile_identified_just_now_is_known_while_clickhouse_hangs(api, hung_clickhouse):
    assert post(api, identify("fresh"))[1].status_code == 200
    seconds, response = post(api, increment("fresh"))
    assert response.status_code == 200 and seconds < 2


def test_every_profile_the_worker_writes_is_known_without_expiry(api, project, settings):
    assert post(api, identify("written"))[1].status_code == 200
    redis.client().delete(keys.known_profiles(project.id))  # the API's mark alone is not what counts
    drain()
    assert redis.client().sismember(keys.known_profiles(project.id), "written")
    assert redis.client().ttl(keys.known_profiles(project.id)) == -1  # no expiry
    real = settings.CLICKHOUSE_URL
    settings.CLICKHOUSE_URL = "clickhouse://default:@127.0.0.1:1/unreachable"
    assert post(api, increment("written"))[1].status_code == 200
    settings.CLICKHOUSE_URL = real


def test_an_existing_deployment_loads_the_profiles_clickhouse_holds(api, project, capsys):
    for profile_id in ("old-1", "old-2"):
        post(api, identify(profile_id))
    drain()
    assert stored.profile(project.id, "old-1") is not None
    redis.client().flushdb()  # a deployment of the previous release: Redis knows none of them for good
    assert post(api, increment("old-1"))[1].status_code == 404
    call_command("clickhouse_migrate")  # the upgrade's migrate step loads them once
    assert "known profiles" in capsys.readouterr().out
    assert post(api, increment("old-1"))[1].status_code == 200
    assert post(api, increment("old-2"))[1].status_code == 200
    assert post(api, increment("never"))[1].status_code == 404


def test_the_previous_release_s_marks_are_taken_over(api, project):
    redis.client().set(f"spool:profile_known:{project.id}:legacy:id", 1, ex=3600)  # its per-profile key
    call_command("load_known_profiles")
    assert post(api, increment("legacy:id"))[1].status_code == 200


@pytest.mark.parametrize("blank", ["", "   ", None])
def test_a_blank_profile_id_is_never_known_and_never_a_server_error(api, blank):
    """A blank id reaches the lookup as None on this release: Redis refuses None as a set member, which
    must not become a 503 (schemathesis found it)."""
    body = {"type": "increment", "payload": {"profileId": blank, "property": "n"}}
    assert api.post("/track", body, format="json").status_code in (400, 404)
    batch = api.post("/track/batch", {"events": [body, identify("real")]}, format="json")
    assert batch.status_code == 202 and batch.json()["accepted"] == 1
