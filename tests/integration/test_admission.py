"""Contract §11: quotas, the high-water mark and the fair lane, against the real Redis."""
import json
import time
import uuid

import django_rq
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from projects.models import Project
from storage.queue import queues
from storage.redis import client as redis
from tests.support import stored
from tests.support.events import at, now_ms, track
from tests.support.worker import drain

pytestmark = pytest.mark.django_db


def batch(size: int, name: str = "quota", **properties) -> dict:
    return {"events": [track(name, i=i, **properties) for i in range(size)]}


def queued_events() -> int:
    """Events waiting in the queues and the single-event buffer."""
    jobs = sum(django_rq.get_queue(name).count for name in queues.NAMES)
    return jobs + redis.client().llen("spool:buffer:events")


def set_quota(project, per_minute: int, burst: int) -> None:
    Project.objects.filter(pk=project.pk).update(quota_events_per_minute=per_minute, quota_burst=burst)


def test_a_batch_beyond_the_quota_is_429_with_retry_after_and_nothing_is_accepted(api, project):
    set_quota(project, per_minute=600, burst=100)  # 10 events a second
    assert api.post("/track/batch", batch(90), format="json").json()["accepted"] == 90
    before = queued_events()

    refused = api.post("/track/batch", batch(50), format="json")
    assert refused.status_code == 429
    assert refused.json()["error"] == "quota"
    assert "600 events a minute" in refused.json()["message"]
    assert 4 <= int(refused["Retry-After"]) <= 5  # 40 events more than the 10 left, at 10 a second
    assert queued_events() == before

    assert api.post("/track/batch", batch(10), format="json").status_code == 202  # what was left
    single = api.post("/track", track("quota"), format="json")  # nothing left: refused from its headers
    assert single.status_code == 429 and int(single["Retry-After"]) >= 1
    assert "nothing is left" in single.json()["message"]


def test_quota_counts_events_not_requests(api, project):
    set_quota(project, per_minute=1, burst=100)
    assert api.post("/track/batch", batch(60), format="json").status_code == 202
    assert api.post("/track/batch", batch(41), format="json").status_code == 429  # 40 left
    for _ in range(40):  # a smaller request is not held back by the larger one's refusal
        assert api.post("/track", track("quota"), format="json").status_code == 200
    assert api.post("/track", track("quota"), format="json").status_code == 429


def test_the_quota_refills_at_its_rate(api, project):
    set_quota(project, per_minute=6000, burst=50)  # 100 a second
    assert api.post("/track/batch", batch(50), format="json").status_code == 202
    refused = api.post("/track/batch", batch(50), format="json")
    assert refused.status_code == 429 and refused["Retry-After"] == "1"
    time.sleep(0.6)
    assert api.post("/track/batch", batch(50), format="json").status_code == 202


def test_a_batch_larger_than_the_burst_passes_when_the_bucket_is_full_and_leaves_a_debt(api, project):
    set_quota(project, per_minute=600, burst=10)
    assert api.post("/track/batch", batch(100), format="json").json()["accepted"] == 100
    refused = api.post("/track", track("quota"), format="json")
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 9  # 90 events of debt at 10/s


def test_projects_have_quotas_of_their_own(api, client_for, project, db):
    from projects.services import create_project

    set_quota(project, per_minute=60, burst=10)
    other, secret = create_project(f"Other {uuid.uuid4().hex[:6]}")
    other_api = client_for()
    other_api.credentials(HTTP_OPENPANEL_CLIENT_ID=str(other.client_id), HTTP_OPENPANEL_CLIENT_SECRET=secret)
    assert api.post("/track/batch", batch(10), format="json").status_code == 202
    assert api.post("/track/batch", batch(10), format="json").status_code == 429
    assert other_api.post("/track/batch", batch(10), format="json").status_code == 202


def test_the_default_quota_comes_from_settings(api, settings):
    settings.QUOTA_EVENTS_PER_MINUTE, settings.QUOTA_BURST = 60, 5
    assert api.post("/track/batch", batch(5), format="json").status_code == 202
    assert api.post("/track/batch", batch(5), format="json").status_code == 429


def test_a_refused_single_event_is_not_taken_for_a_duplicate_when_sent_again(client_for, project):
    set_quota(project, per_minute=60, burst=1)
    browser = client_for(secret=False, HTTP_ORIGIN="https://app.example.com")
    assert browser.post("/track", track("first"), format="json").status_code == 200
    body = track("second")
    assert browser.post("/track", body, format="json").status_code == 429
    Project.objects.filter(pk=project.pk).update(quota_events_per_minute=60_000)
    from ingest.pipeline import budget

    budget.forget()
    answer = browser.post("/track", body, format="json")  # within 100 ms of the refused one
    assert answer.status_code == 200 and "duplicate" not in answer.json()
    assert browser.post("/track", body, format="json").json()["duplicate"] is True


def test_update_project_sets_and_clears_the_quota(project, capsys):
    call_command("update_project", "--project", str(project.client_id), "--quota", "1200", "--burst", "3000")
    shown = json.loads(capsys.readouterr().out)
    assert (shown["quota_events_per_minute"], shown["quota_burst"]) == (1200, 3000)
    project.refresh_from_db()
    assert (project.quota_events_per_minute, project.quota_burst) == (1200, 3000)
    call_command("update_project", "--project", str(project.client_id), "--quota", "0", "--disable")
    project.refresh_from_db()
    assert project.quota_events_per_minute is None and project.quota_burst == 3000 and not project.active
    with pytest.raises(CommandError, match="backfill"):
        call_command("update_project", "--project", str(project.client_id), "--backfill-days", "400")
    with pytest.raises(CommandError, match="no project"):
        call_command("update_project", "--project", str(uuid.uuid4()), "--quota", "5")


# --- the high-water mark ------------------------------------------------------------------------------
def test_above_the_high_water_mark_the_api_answers_503_and_workers_drain(api, project, settings):
    assert api.post("/track/batch", batch(3, name="before"), format="json").status_code == 202
    settings.REDIS_HIGH_WATER_BYTES = 1  # any Redis is above this
    redis.client().delete("spool:memory")  # the reading is kept 250 ms
    for path, body in (("/track", track("over")), ("/track/batch", batch(2, name="over"))):
        refused = api.post(path, body, format="json")
        assert refused.status_code == 503, refused.content
        assert refused.json()["error"] == "overloaded"
        assert int(refused["Retry-After"]) > 0
    drain()  # workers are never refused
    assert stored.count(project.id, "name = 'before'") == 3

    settings.REDIS_HIGH_WATER_BYTES = 0  # back under the mark (a share of maxmemory, which is unset)
    from ingest.pipeline import budget

    budget.forget()  # another process would not remember the refusal either
    assert api.post("/track", track("after"), format="json").status_code == 200


def test_the_mark_is_a_share_of_redis_maxmemory(api, settings):
    client = redis.client()
    used = client.info("memory")["used_memory"]
    old = client.config_get("maxmemory")["maxmemory"]
    try:
        client.config_set("maxmemory", used * 4)
        settings.REDIS_HIGH_WATER_SHARE = 0.1
        client.delete("spool:memory")
        assert api.post("/track", track("x"), format="json").status_code == 503
    finally:
        client.config_set("maxmemory", old)


# --- fairness: the bulk lane ---------------------------------------------------------------------------
def test_a_project_over_its_fair_share_queues_in_the_bulk_lane(api, project, client_for, settings):
    from projects.services import create_project

    settings.FAIR_SHARE_EVENTS_PER_MINUTE = 600
    base = now_ms() - 3_600_000
    flood = {"events": [at("flood", base + i, device=f"d{i % 50}", i=i) for i in range(2000)]}
    for _ in range(6):  # 12,000 events: the first 10,000 (the fair burst) go first, the rest wait
        assert api.post("/track/batch", flood, format="json").json()["accepted"] == 2000
    assert django_rq.get_queue(queues.BULK).count == 4  # the last batch: 4 chunks of 500

    quiet, secret = create_project(f"Quiet {uuid.uuid4().hex[:6]}")
    quiet_api = client_for()
    quiet_api.credentials(HTTP_OPENPANEL_CLIENT_ID=str(quiet.client_id), HTTP_OPENPANEL_CLIENT_SECRET=secret)
    assert quiet_api.post("/track/batch", {"events": [track("quiet")] * 3}, format="json").status_code == 202
    events_queue = django_rq.get_queue(queues.EVENTS)
    assert events_queue.jobs[-1].args[0]["packets"][0]["ctx"]["project_id"] == quiet.id

    drain()
    assert stored.count(quiet.id, "name = 'quiet'") == 3
    assert stored.count(project.id, "name = 'flood'") == 2000  # one id per event: 6 sends, 2000 rows
    assert django_rq.get_queue(queues.BULK).count == 0


# --- a refusal leaves nothing behind (issue 17, finding 9) -------------------------------------------
def _objects_after(send, times: int) -> int:
    """How many more objects the collector tracks after `times` calls of `send` (refusals)."""
    import gc

    gc.collect()
    before = len(gc.get_objects())
    for _ in range(times):
        send()
    gc.collect()
    return len(gc.get_objects()) - before


@pytest.mark.parametrize("left", [0, 50], ids=["no budget left", "less than the batch needs"])
def test_refused_requests_leave_nothing_of_themselves_in_memory(api, project, left):
    """A remembered refusal was one exception raised again for every refused request: each raise
    added the request's frames (the parsed body among their locals) to its traceback, so a flood's
    refused bodies stayed in memory, and the collector walked them all (a quiet project's p99 1.1 s)."""
    set_quota(project, per_minute=1, burst=100)
    assert api.post("/track/batch", batch(100 - left), format="json").status_code == 202
    body = batch(300)

    def refused():
        assert api.post("/track/batch", body, format="json").status_code == 429

    refused()  # the first refusal of this process
    assert _objects_after(refused, 20) < 3_000  # a request of 300 events is ~2,500 objects


# --- refusals from the headers, bodies charged, new devices (issue 17, finding 9, deliverable 3) ---------
def _gzip_bomb(size: int) -> bytes:
    import gzip

    return gzip.compress(b'{"events": [' + b" " * size, compresslevel=9)


def test_a_project_with_nothing_left_is_refused_from_its_headers_whatever_its_body(client_for, project):
    set_quota(project, per_minute=1, burst=10)
    browser = client_for(secret=False, HTTP_ORIGIN="https://app.example.com")
    assert browser.post("/track/batch", batch(10), format="json").status_code == 202
    for path, body, headers in (
        ("/track/batch", b"not json at all", {}),
        ("/track/batch", _gzip_bomb(20 * 1024 * 1024), {"HTTP_CONTENT_ENCODING": "gzip"}),
        ("/track", b"\x00\xff", {}),
    ):
        refused = browser.generic("POST", path, body, content_type="application/json", **headers)
        assert refused.status_code == 429, (path, refused.content[:200])
        assert refused.json()["error"] == "quota" and "nothing is left" in refused.json()["message"]


def test_a_cold_process_asks_redis_before_it_reads_a_body(api, project):
    set_quota(project, per_minute=1, burst=10)
    assert api.post("/track/batch", batch(10), format="json").status_code == 202
    from ingest.pipeline import budget

    budget.forget()  # another web process, which never saw this project
    refused = api.generic("POST", "/track/batch", b"{not json", content_type="application/json")
    assert refused.status_code == 429 and refused.json()["error"] == "quota"


def _tokens(project) -> float:
    return float(redis.client().hget(f"spool:quota:{project.id}", "tokens"))


@pytest.mark.parametrize("kind", ["gzip bomb", "invalid JSON"])
def test_bodies_that_fail_are_charged_to_their_project(client_for, project, settings, kind):
    """A public client id with its Origin bought a full 10 MiB parse for a 35 KB gzip body that ended
    in 400, spending nothing: now its bytes cost its own project's quota (contract §11 r3)."""
    set_quota(project, per_minute=60, burst=10_000)
    browser = client_for(secret=False, HTTP_ORIGIN="https://app.example.com")
    assert browser.post("/track/batch", batch(1), format="json").status_code == 202
    before = _tokens(project)
    limit = settings.MAX_BATCH_BODY_BYTES
    body, headers, status = {
        "gzip bomb": (_gzip_bomb(2 * limit), {"HTTP_CONTENT_ENCODING": "gzip"}, 413),
        "invalid JSON": (b'{"events": [' + b"1," * (limit // 4), {}, 400),
    }[kind]
    answer = browser.generic("POST", "/track/batch", body, content_type="application/json", **headers)
    assert answer.status_code == status, answer.content[:200]
    charged = before - _tokens(project)
    assert charged >= (len(body) if kind == "invalid JSON" else limit) // settings.QUOTA_BYTES_PER_EVENT - 1
    assert charged < 5_000  # its bytes, not more


def test_a_batch_is_charged_its_bytes_when_they_cost_more_than_its_events(api, project, settings):
    settings.QUOTA_BYTES_PER_EVENT = 100
    set_quota(project, per_minute=1, burst=10_000)
    fat = {"events": [track("fat", text="x" * 950) for _ in range(10)]}  # ~10 KB: ~100 events' worth
    assert api.post("/track/batch", fat, format="json").status_code == 202
    assert 10_000 - _tokens(project) >= 95


def test_new_live_devices_are_budgeted_per_project(api, project, client_for, settings):
    from projects.services import create_project

    settings.NEW_DEVICES_PER_MINUTE, settings.NEW_DEVICES_BURST = 60, 50
    devices = {"events": [track("new", __deviceId=f"dev-{i}") for i in range(40)]}
    assert api.post("/track/batch", devices, format="json").json()["accepted"] == 40
    more = {"events": [track("new", __deviceId=f"more-{i}") for i in range(20)]}
    refused = api.post("/track/batch", more, format="json")
    assert refused.status_code == 429 and "new devices a minute" in refused.json()["message"]
    assert int(refused["Retry-After"]) >= 9  # 10 devices more than the 10 left, at one a second
    assert api.post("/track", track("one more", __deviceId="more-0"), format="json").status_code == 200
    # Events of devices that have a live session, and historical or server events, cost no device.
    ms = now_ms()
    for i in range(40):
        redis.client().hset(f"spool:live:{project.id}:dev-{i}", mapping={"sid": f"s{i}", "first": ms, "last": ms})
    assert api.post("/track/batch", devices, format="json").status_code == 202
    old = {"events": [at("old", ms - 7_200_000, device=f"old-{i}") for i in range(60)]}
    assert api.post("/track/batch", old, format="json").status_code == 202
    other, secret = create_project(f"Other {uuid.uuid4().hex[:6]}")  # a budget of its own
    other_api = client_for()
    other_api.credentials(HTTP_OPENPANEL_CLIENT_ID=str(other.client_id), HTTP_OPENPANEL_CLIENT_SECRET=secret)
    assert other_api.post("/track/batch", more, format="json").status_code == 202


def test_the_mark_keeps_the_workers_reserve_below_maxmemory(api, settings):
    client = redis.client()
    used = client.info("memory")["used_memory"]
    old = client.config_get("maxmemory")["maxmemory"]
    try:
        client.config_set("maxmemory", int(used * 1.1))  # 10% free: inside the 20% reserve
        settings.REDIS_HIGH_WATER_BYTES, settings.REDIS_HIGH_WATER_SHARE = 10 * 1024**3, 0.0  # a mark above it all
        client.delete("spool:memory")
        refused = api.post("/track", track("x"), format="json")
        assert refused.status_code == 503 and refused.json()["error"] == "overloaded"
        settings.REDIS_WORKER_RESERVE_SHARE = 0.01
        client.delete("spool:memory")
        from ingest.pipeline import budget

        budget.forget()
        assert api.post("/track", track("x"), format="json").status_code == 200
    finally:
        client.config_set("maxmemory", old)
