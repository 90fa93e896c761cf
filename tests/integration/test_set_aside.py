"""Issue 9, finding 1 (worker side), contract §7 (r2): an item that cannot be processed is set aside
(kept, with its error, visible to operators) and never blocks what is queued behind it, in every
buffer and queue: the profile buffer, the single-event buffer, the rejected-sample buffer and the
chunk jobs. Each test puts a poison item in front of normal work and checks that the work arrives."""
import uuid
from datetime import UTC, datetime

import orjson
import pytest
from django.core.management import call_command

from contract import jobs
from ingest.models import RejectedSample
from ingest.worker import registry, rejected_samples
from storage.queue import buffers, queues
from storage.redis import client as redis
from storage.redis import counters, keys
from tests.support import stored
from tests.support.agents import IPHONE_UA
from tests.support.events import at, now_ms, track
from tests.support.worker import drain

pytestmark = pytest.mark.django_db


def context(project_id: str, **extra) -> dict:
    """A request context as the API queues it."""
    agent = {"os": "iOS", "os_version": "17", "browser": "Safari", "browser_version": "17", "device": "mobile",
             "brand": "Apple", "model": "iPhone"}  # fmt: skip
    geo = {"country": "", "city": "", "region": "", "latitude": None, "longitude": None}
    return {"project_id": project_id, "backfill_days": 5, "received_ms": now_ms(), "ip": "", "geo": geo,
            "agent": agent, "sdk_name": "", "sdk_version": "", **extra}  # fmt: skip


def set_aside(source: str) -> list[dict]:
    """The documented Redis list of what the worker set aside from `source`."""
    return [orjson.loads(raw) for raw in redis.client().lrange(f"spool:set_aside:{source}", 0, -1)]


def identify(client, profile_id: str, **properties):
    body = {"type": "identify", "payload": {"profileId": profile_id, "properties": properties}}
    assert client.post("/track", body, format="json").status_code == 200


@pytest.fixture
def other(db):
    """A second project, whose normal work must arrive whatever the first one queued."""
    from projects.services import create_project

    created, secret = create_project(f"other {now_ms()}", origins=[])
    created.secret = secret
    return created


@pytest.fixture
def other_api(other):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_OPENPANEL_CLIENT_ID=str(other.client_id), HTTP_OPENPANEL_CLIENT_SECRET=other.secret,
                       HTTP_USER_AGENT=IPHONE_UA)  # fmt: skip
    return client


# --- the profile buffer -----------------------------------------------------------------------------
def test_a_blank_profile_id_from_the_previous_release_is_set_aside_and_blocks_nothing(project, other, other_api):
    # The previous release queued `identify {"profileId": ""}` with profile_id None; it may wait in Redis.
    buffers.push(context(project.id), [], [{"type": "identify", "profile_id": None, "properties": {"plan": "x"}}])
    identify(other_api, "alice", plan="pro")
    drain()
    assert stored.profile(other.id, "alice")["properties"]["plan"] == "pro"
    assert redis.client().llen(buffers.PROFILE_BUFFER.key) == 0
    [entry] = set_aside("profiles")
    assert entry["project_id"] == project.id and "profile id" in entry["error"]
    assert orjson.loads(entry["item"])["changes"][0]["profile_id"] is None
    today = datetime.now(UTC).date()
    assert dict(counters.rejected_by_day(project.id, today, days=1))[today.isoformat()] == {"set_aside": 1}
    # Later work of the same project goes on too.
    identify(other_api, "bob")
    drain()
    assert stored.profile(other.id, "bob") is not None


def test_only_the_change_that_fails_is_set_aside_the_rest_of_its_packet_applies(project, api):
    identify(api, "carol", credits=10)
    drain()
    changes = [
        {"type": "increment", "profile_id": "carol", "property": "credits", "value": 5},
        {"type": "increment", "profile_id": "carol", "property": "credits", "value": "lots"},  # cannot add
        {"type": "assign_group", "profile_id": "carol", "group_ids": "not-a-list"},
        {"type": "increment", "profile_id": "carol", "property": "credits", "value": 1},
    ]
    buffers.push(context(project.id), [], changes)
    drain()
    assert stored.profile(project.id, "carol")["properties"]["credits"] == "16"
    errors = [entry["error"] for entry in set_aside("profiles")]
    assert len(errors) == 2, errors


@pytest.mark.parametrize(
    "poison",
    [
        b"{not json",
        orjson.dumps({"v": 99, "ctx": {}, "changes": []}),  # written by a newer release
        orjson.dumps({"v": 1, "changes": [{"type": "identify", "profile_id": "x"}]}),  # no context
        orjson.dumps(["a", "list"]),
    ],
    ids=["not-json", "newer-format", "no-context", "not-an-object"],
)
def test_a_packet_that_cannot_be_read_is_set_aside(poison, other, other_api):
    redis.client().rpush(buffers.PROFILE_BUFFER.key, poison)
    identify(other_api, "dave", plan="pro")
    drain()
    assert stored.profile(other.id, "dave")["properties"]["plan"] == "pro"
    [entry] = set_aside("profiles")
    assert entry["item"] == poison.decode()


# --- the single-event buffer ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "poison",
    [b"{not json", orjson.dumps({"v": 99, "ctx": {}, "events": []}), orjson.dumps({"v": 1, "events": 5})],
    ids=["not-json", "newer-format", "events-not-a-list"],
)
def test_the_single_event_buffer_sets_a_poison_packet_aside(poison, other, other_api):
    redis.client().rpush(buffers.EVENT_BUFFER.key, poison)
    assert other_api.post("/track", track("after_poison"), format="json").status_code == 200
    drain()
    assert stored.count(other.id, "name = 'after_poison'") == 1
    assert redis.client().llen(buffers.EVENT_BUFFER.key) == 0
    assert len(set_aside("events")) == 1


# --- chunk jobs -------------------------------------------------------------------------------------
def _event(project_id: str, name: str, **fields) -> dict:
    ms = now_ms()
    event = {"type": "track", "name": name, "ts": ms, "properties": {}, "id": str(uuid.uuid4()),
             "device_id": "dev-1", "session_id": "sess-1"}  # fmt: skip
    event.update(fields)
    return event


@pytest.mark.parametrize(
    "bad",
    [
        {"ts": "yesterday"},
        {"revenue": -1},
        {"properties": {"a": {"nested": 1}}},
        {"device_id": None},
        {"id": "not-a-uuid"},
        {"groups": [1, 2]},
        {"id": "not-a-uuid", "sent": now_ms() + 86_400_000},  # marked as a copy that may be on another day
    ],
    ids=["ts-text", "negative-revenue", "nested-property", "no-device", "bad-id", "numeric-groups", "bad-id-marked"],
)
def test_one_poison_event_in_a_chunk_is_set_aside_and_its_neighbours_are_stored(project, bad):
    good = [_event(project.id, f"good_{i}", device_id=f"d{i}") for i in range(3)]
    packet = {"v": 1, "ctx": context(project.id), "events": [good[0], _event(project.id, "poison", **bad), *good[1:]]}
    queues.enqueue_chunk([packet])
    drain()
    assert stored.count(project.id, "startsWith(name, 'good_')") == 3
    assert queues.failed_jobs() == []
    [entry] = set_aside("events")
    assert orjson.loads(entry["item"])["events"][0]["name"] == "poison"


def test_an_event_with_a_null_profile_id_is_an_anonymous_event_not_poison(project):
    queues.enqueue_chunk([{"v": 1, "ctx": context(project.id), "events": [_event(project.id, "anon", profile_id=None)]}])
    drain()
    [row] = stored.events(project.id, "name = 'anon'")
    assert row["profile_id"] == "dev-1" and set_aside("events") == []


def test_a_chunk_that_cannot_be_read_is_set_aside_and_the_queue_goes_on(project, other, other_api):
    queues.queue(queues.EVENTS).enqueue_call(registry.PROCESS_EVENTS, args=({"packets": "nonsense"},), **queues.job_options(jobs.PROCESS_EVENTS))
    assert other_api.post("/track/batch", {"events": [track("behind")]}, format="json").status_code == 202
    drain()
    assert stored.count(other.id, "name = 'behind'") == 1
    assert queues.failed_jobs() == []
    assert len(set_aside("chunks")) == 1


# --- the rejected-sample buffer ---------------------------------------------------------------------
def test_a_poison_sample_is_set_aside_and_the_samples_behind_it_are_stored(api, project):
    redis.client().rpush(buffers.REJECTED_BUFFER.key, orjson.dumps({"id": "not-a-uuid"}), b"[1, 2")
    api.post("/track/batch", {"events": [track("ok"), {"type": "track", "payload": {"name": ""}}]}, format="json")
    rejected_samples.store_samples()
    assert RejectedSample.objects.filter(project_id=project.id).count() == 1
    assert len(set_aside("rejected")) == 2
    assert redis.client().llen(buffers.REJECTED_BUFFER.key) == 0


# --- what operators see and do ----------------------------------------------------------------------
def test_operators_list_requeue_and_drop_what_was_set_aside(project, capsys):
    redis.client().rpush(buffers.PROFILE_BUFFER.key, b"{not json")
    buffers.push(context(project.id), [], [{"type": "identify", "profile_id": None}])
    drain()
    call_command("set_aside")
    listed = capsys.readouterr().out
    assert "profiles" in listed and "2 items set aside" in listed and project.id in listed
    # Requeued, they go through the buffer again; still poison, they are set aside again, once each.
    call_command("set_aside", "--requeue", "--source", "profiles")
    drain()
    assert len(set_aside("profiles")) == 2
    [first, _] = set_aside("profiles")
    call_command("set_aside", "--drop", first["id"])
    assert [entry["id"] for entry in set_aside("profiles")] != [first["id"]] and len(set_aside("profiles")) == 1
    call_command("set_aside", "--drop-all", "--source", "profiles")
    assert set_aside("profiles") == []


def test_the_admin_shows_how_many_items_are_set_aside(admin_client, project):
    redis.client().rpush(buffers.EVENT_BUFFER.key, b"{not json")
    buffers.move_events_to_queue()
    page = admin_client.get("/admin/ingest/rejectedsample/set-aside/")
    assert page.status_code == 200
    assert b"{not json" in page.content and b"events" in page.content
    listing = admin_client.get("/admin/ingest/rejectedsample/")
    assert b"1 item set aside" in listing.content


def test_the_set_aside_key_is_what_the_docs_name():
    assert keys.set_aside("profiles") == "spool:set_aside:profiles"


def test_poison_in_every_buffer_at_once_blocks_nothing(project, other, other_api):
    """Everything at once, in the order a worker meets it."""
    client = redis.client()
    client.rpush(buffers.EVENT_BUFFER.key, b"\xff\xfe")
    client.rpush(buffers.PROFILE_BUFFER.key, b"\xff\xfe")
    client.rpush(buffers.REJECTED_BUFFER.key, b"\xff\xfe")
    identify(other_api, "erin", plan="team")
    other_api.post("/track", track("single"), format="json")
    other_api.post("/track/batch", {"events": [at("old", now_ms() - 3_600_000, device="d9")]}, format="json")
    drain()
    rejected_samples.store_samples()
    assert stored.profile(other.id, "erin")["properties"]["plan"] == "team"
    assert stored.count(other.id, "name IN ('single', 'old')") == 2
