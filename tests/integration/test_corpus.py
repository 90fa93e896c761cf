"""Issue 13: a corpus of requests whose answers, queued messages and rows must stay byte-for-byte the
same while the API gets cheaper. The golden file was recorded from main before the changes of issue
13; `SPOOL_RECORD_CORPUS=1 pytest tests/integration/test_corpus.py` records it again (only when a
change of an answer or a row is intended: say so in the commit).

Deterministic by construction: one project with fixed salts, a fixed receive time, events timed by
`__timestamp` (the ids of the few untimed events are random by design and written as `random-uuid4`
once checked), live sessions seeded by the test itself.
"""
import gzip
import os
import types
import uuid
from pathlib import Path

import orjson
import pytest
from rest_framework.test import APIClient

from contract import messages, rows
from ingest.api import views
from ingest.worker import registry
from projects import auth
from projects.services import create_project
from sessions_app import identity, rules
from storage.queue import buffers, queues
from storage.redis import client as redis
from storage.redis import counters, keys
from tests.support.agents import ANDROID_PHONE_UA, BROWSER_UA, GOOGLEBOT_UA, IPHONE_UA
from tests.support.events import iso

pytestmark = pytest.mark.django_db

GOLDEN = Path(__file__).parent / "golden" / "corpus.json"
NOW_MS = 1_767_268_800_123  # 2026-01-01T12:00:00.123Z: every request of the corpus is received then
MIN = 60_000
IP = "81.2.69.142"  # in the test city database
SALTS = ("corpus-current-salt", "corpus-previous-salt")


def track(name, properties=None, **payload) -> dict:
    return {"type": "track", "payload": {"name": name, "properties": properties or {}, **payload}}


def at(minutes_ago: float) -> str:
    return iso(NOW_MS - int(minutes_ago * MIN))


FLAT = {"plan": "pro", "count": 3, "ok": True, "off": False, "ratio": 0.25, "big": 1e20, "none": None, "empty": ""}
NESTED = {
    "plan": "team",
    "cart": {"items": [{"sku": "a-1", "qty": 2}, {"sku": "b-2", "qty": 1, "tags": ["x", None, "y"]}], "total": 12.5},
    "deep": {"a": {"b": {"c": {"d": [1, [2, [3]]]}}}},
    "dotted.key": "kept",
    "ünïcode ключ": "värde 🚀",
    "ctrl": "a\u0007b\tc",
}
BATCH = [
    track("flat", {"__timestamp": at(50), "__deviceId": "dev-a", **FLAT}),
    track("nested", {"__timestamp": at(49), "__deviceId": "dev-a", "__path": "/shop?utm_source=news&x=1", **NESTED}),
    track("web", {"__timestamp": at(48), "__path": "https://app.example.com/a/b?utm_campaign=c#h",
                  "__referrer": "https://www.google.com/search?q=x"}, profileId="user-7"),
    {"type": "identify", "payload": {"profileId": "user-b1", "email": "b1@example.com", "properties": {"tier": 2}}},
    {"type": "increment", "payload": {"profileId": "user-b1", "property": "visits", "value": 2}},
    {"type": "decrement", "payload": {"profileId": "user-unknown", "property": "visits"}},
    {"type": "group", "payload": {"id": "org-1", "type": "company", "name": "Acme", "properties": {"size": 10}}},
    {"type": "assign_group", "payload": {"groupIds": ["org-1"], "profileId": "user-b1"}},
    {"type": "assign_group", "payload": {"groupIds": ["org-1", "org-2"]}},
    "not an object",
    {"payload": {"name": "no type"}},
    {"type": "alias", "payload": {}},
    {"type": "teleport", "payload": {}},
    {"type": "batch", "payload": []},
    {"type": "track"},
    {"type": "track", "payload": None},
    track("n" * 81, {"__timestamp": at(47)}),
    track("session_start", {"__timestamp": at(47)}),
    track("", {"__timestamp": at(47)}),
    track(5, {"__timestamp": at(47)}),
    track("old", {"__timestamp": at(60 * 24 * 6)}),
    track("bad time", {"__timestamp": "yesterday"}),
    track("bad device", {"__timestamp": at(46), "__deviceId": "   "}),
    track("bad ip", {"__timestamp": at(46), "__ip": "999.1.1.1"}),
    track("bad revenue", {"__timestamp": at(46), "__revenue": 1.5}),
    track("revenue", {"__timestamp": at(46), "__revenue": "1200"}),
    track("groups", {"__timestamp": at(45)}, groups=["g1", "", "g2"]),
    track("profile number", {"__timestamp": at(45)}, profileId=12345),
    track("profile blank", {"__timestamp": at(45)}, profileId="   "),
    track("profile float", {"__timestamp": at(45)}, profileId=1e300),
    {"type": "track", "payload": {"name": "props not object", "properties": [1]}},
    track("epoch s", {"__timestamp": (NOW_MS - 44 * MIN) // 1000}),
    track("epoch ms", {"__timestamp": NOW_MS - 44 * MIN}),
    track("epoch text", {"__timestamp": str(NOW_MS - 44 * MIN)}),
    track("naive iso", {"__timestamp": "2026-01-01T11:15:00"}),
    track("offset iso", {"__timestamp": "2026-01-01T13:15:00+02:00"}),
    track("future", {"__timestamp": at(-120)}),
    track("insert", {"__timestamp": at(43), "__deviceId": "dev-b", "__insertId": "ins-1"}),
    track("insert", {"__timestamp": at(43), "__insertId": "ins-1"}),
    track("exported", {"__timestamp": at(43), "__insertId": "spool:0b5e5f3c-8f0c-4d4e-9b8e-2f1f4b0c1a2b"}),
    track("overrides", {"__timestamp": at(42), "__os": "Plan9", "__browser": "Lynx", "__model": "x" * 200}),
    track("other ip", {"__timestamp": at(42), "__ip": "2001:db8::1"}),
    track("identify inside", {"__timestamp": at(41), "__identify": {"profileId": "user-i", "firstName": "Ida"}}),
    track("identify id only", {"__timestamp": at(41), "__identify": {"profileId": "user-j"}}),
    track("too many keys", {"__timestamp": at(40), **{f"k{i}": i for i in range(1100)}}),
]


HUGE = b'{"type": "track", "payload": {"name": "huge", "properties": {"a": {"b": 1e400}, "c": 2e308, "d": 123456789012345678901234567890}}}'


def _ndjson(lines: list) -> bytes:
    return b"\n".join(line if isinstance(line, bytes) else orjson.dumps(line) for line in lines) + b"\n"


# name → (method, path, body, content type, extra headers); sent in this order, one after the other.
CORPUS = [
    ("single flat", "POST", "/track", track("flat", {"__timestamp": at(30), **FLAT}), None, {}),
    ("single nested", "POST", "/track", track("nested", {"__timestamp": at(29), **NESTED}, profileId="user-1"), None, {}),
    ("single untimed", "POST", "/track", track("untimed", {"plan": "free"}, groups=["g"]), None, {}),
    ("single insert id", "POST", "/track", track("ins", {"__deviceId": "dev-s", "__insertId": "s-1"}), None, {}),
    ("single future", "POST", "/track", track("future", {"__timestamp": at(-30)}), None, {}),
    ("single too old", "POST", "/track", track("old", {"__timestamp": at(60 * 24 * 10)}), None, {}),
    ("single bad time", "POST", "/track", track("bad", {"__timestamp": "32/13/2026"}), None, {}),
    ("single reserved", "POST", "/track", track("session_end", {}), None, {}),
    ("single no name", "POST", "/track", {"type": "track", "payload": {"properties": {}}}, None, {}),
    ("single web", "POST", "/track", track("page", {"__timestamp": at(28), "__path": "https://app.example.com/p?q=1",
                                                    "__referrer": "https://t.co/x", "__revenue": 5}), None, {}),
    ("single revenue", "POST", "/track", track("revenue", {"__timestamp": at(28), "__revenue": 499}), None, {}),
    ("single identify in track", "POST", "/track",
     track("signed in", {"__timestamp": at(27), "__identify": {"profileId": "user-2", "email": "two@example.com"}}), None, {}),
    ("single identify", "POST", "/track", {"type": "identify", "payload": {
        "profileId": "user-3", "firstName": " Ann ", "lastName": "Lee", "email": "ann@example.com",
        "avatar": "https://example.com/a.png", "properties": {"a": {"b": 1}, "c": [True, None]}}}, None, {}),
    ("single identify numeric", "POST", "/track", {"type": "identify", "payload": {"profileId": 42}}, None, {}),
    ("single increment", "POST", "/track",
     {"type": "increment", "payload": {"profileId": "user-3", "property": "logins", "value": 1.5}}, None, {}),
    ("single decrement", "POST", "/track",
     {"type": "decrement", "payload": {"profileId": "user-3", "property": "credits"}}, None, {}),
    ("single increment unknown", "POST", "/track",
     {"type": "increment", "payload": {"profileId": "nobody", "property": "logins"}}, None, {}),
    ("single increment bad value", "POST", "/track",
     {"type": "increment", "payload": {"profileId": "user-3", "property": "logins", "value": -1}}, None, {}),
    ("single group", "POST", "/track",
     {"type": "group", "payload": {"id": "g-1", "type": "team", "name": "Core", "properties": {"seats": 5}}}, None, {}),
    ("single assign group", "POST", "/track", {"type": "assign_group", "payload": {"groupIds": ["g-1"]}}, None, {}),
    ("single alias", "POST", "/track", {"type": "alias", "payload": {"profileId": "x"}}, None, {}),
    ("single unknown type", "POST", "/track", {"type": "nope", "payload": {}}, None, {}),
    ("single not object", "POST", "/track", [1, 2], None, {}),
    ("single bad json", "POST", "/track", b'{"type": "track", "payload": {', None, {}),
    ("single empty", "POST", "/track", b"", None, {}),
    ("single gzip", "POST", "/track", gzip.compress(orjson.dumps(track("zipped", {"__timestamp": at(26), "z": 1}))), None,
     {"HTTP_CONTENT_ENCODING": "gzip"}),
    ("single sdk headers", "POST", "/track", track("sdk", {"__timestamp": at(25)}), None,
     {"HTTP_OPENPANEL_SDK_NAME": "web", "HTTP_OPENPANEL_SDK_VERSION": "1.0.1"}),
    ("single bot", "POST", "/track", track("bot", {"__timestamp": at(25)}), None, {"HTTP_USER_AGENT": GOOGLEBOT_UA}),
    ("single server", "POST", "/track", track("server", {"__timestamp": at(25)}, profileId="user-3"), None,
     {"HTTP_USER_AGENT": "python-requests/2.32.3"}),
    ("single origin", "POST", "/track", track("origin", {"__timestamp": at(24)}), None,
     {"HTTP_ORIGIN": "https://app.example.com"}),
    ("single live", "POST", "/track", track("live", {"__timestamp": at(3)}), None, {"HTTP_USER_AGENT": IPHONE_UA}),
    ("single live untimed", "POST", "/track", track("live now", {}), None, {"HTTP_USER_AGENT": IPHONE_UA}),
    ("single live previous salt", "POST", "/track", track("live old salt", {"__timestamp": at(2)}), None,
     {"HTTP_USER_AGENT": ANDROID_PHONE_UA}),
    ("single outside live", "POST", "/track", track("bucket", {"__timestamp": at(180)}), None,
     {"HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}),
    ("single increment in live", "POST", "/track",
     {"type": "increment", "payload": {"profileId": "user-3", "property": "taps"}}, None, {"HTTP_USER_AGENT": IPHONE_UA}),
    ("device id", "GET", "/track/device-id", None, None, {"HTTP_USER_AGENT": IPHONE_UA}),
    ("device id plain", "GET", "/track/device-id", None, None, {}),
    ("track type batch", "POST", "/track", {"type": "batch", "payload": BATCH[:12]}, None, {}),
    ("track type batch not list", "POST", "/track", {"type": "batch", "payload": {"a": 1}}, None, {}),
    ("batch json", "POST", "/track/batch", {"events": BATCH}, None, {}),
    ("batch live", "POST", "/track/batch",
     {"events": [track("b live", {"__timestamp": at(m)}) for m in (4, 2, 1, 0.5)]}, None, {"HTTP_USER_AGENT": IPHONE_UA}),
    ("batch ndjson", "POST", "/track/batch",
     _ndjson([*BATCH[:5], b'{"type": "track", "payload": {"name": "cut', b"", b"   ", *BATCH[20:26], HUGE]),
     "application/x-ndjson", {}),
    ("batch gzip", "POST", "/track/batch", gzip.compress(orjson.dumps({"events": BATCH[26:]})), None,
     {"HTTP_CONTENT_ENCODING": "gzip"}),
    ("batch gzip ndjson", "POST", "/track/batch", gzip.compress(_ndjson(BATCH[:4])), "application/x-ndjson",
     {"HTTP_CONTENT_ENCODING": "gzip"}),
    ("batch server", "POST", "/track/batch", {"events": BATCH[:3]}, None, {"HTTP_USER_AGENT": "okhttp/4.12.0"}),
    ("batch bot", "POST", "/track/batch", {"events": BATCH[:3]}, None, {"HTTP_USER_AGENT": GOOGLEBOT_UA}),
    ("batch empty list", "POST", "/track/batch", {"events": []}, None, {}),
    ("batch not list", "POST", "/track/batch", {"events": "x"}, None, {}),
    ("batch no events", "POST", "/track/batch", {"items": []}, None, {}),
    ("batch list body", "POST", "/track/batch", [track("x")], None, {}),
    ("batch too many", "POST", "/track/batch", {"events": [track("x")] * 2001}, None, {}),
    ("batch bad json", "POST", "/track/batch", b'{"events": [', None, {}),
]


def _live(project_id: str, user_agent: str, salt: str, sid: str, first_min: float, last_min: float) -> None:
    device = identity.device_id(user_agent, IP, project_id, salt)
    redis.client().hset(
        keys.live_device(project_id, device),
        mapping={"sid": sid, "first": NOW_MS - int(first_min * MIN), "last": NOW_MS - int(last_min * MIN)},
    )


def _seed_live_sessions(project_id: str) -> None:
    """A live session of the iPhone (current salt), of the Android phone (previous salt), and of the
    Linux browser under the very id its event's bucket would get (the event falls outside it)."""
    _live(project_id, IPHONE_UA, SALTS[0], "live-iphone", 20, 1)
    _live(project_id, ANDROID_PHONE_UA, SALTS[1], "live-android", 15, 5)
    linux = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    device = identity.device_id(linux, IP, project_id, SALTS[0])
    bucket = identity.bucket_of(NOW_MS - 180 * MIN, rules.window_ms())
    _live(project_id, linux, SALTS[0], identity.session_id_for(project_id, device, bucket), 10, 2)


def _random_ids(value):
    """Untimed events have random (version 4) ids: checked, then written as `random-uuid4`."""
    if isinstance(value, dict):
        for key in ("id",):
            if isinstance(value.get(key), str) and len(value[key]) == 36:
                parsed = uuid.UUID(value[key])
                if parsed.version == 4 and str(parsed) == value[key]:
                    value[key] = "random-uuid4"
    return value


def _queued_events() -> list:
    """Every event waiting for the worker, as the worker reads it: single events moved from their
    buffer into chunk jobs first, then each chunk job of each queue read by contract.messages."""
    buffers.move_events_to_queue()
    found = []
    for name in queues.NAMES:
        queue = queues.queue(name)
        for job in queue.get_jobs():
            if job.func_name != registry.PROCESS_EVENTS:
                continue
            for packet in messages.read_chunk(job.args[0])["packets"]:
                ctx = packet["ctx"]
                for event in packet["events"]:
                    found.append({
                        "queue": name, "ctx": ctx, "event": _random_ids(dict(event)),
                        "row": _random_ids(rows.event_row(ctx, event)),
                    })  # fmt: skip
        queue.empty()
    return found


def _drained(buffer: buffers.Buffer) -> list:
    taken = []
    buffer.drain(lambda items, pipe: taken.extend(packet for _, packet in items))
    return taken


def _samples() -> list:
    samples = _drained(buffers.REJECTED_BUFFER)
    for sample in samples:
        sample["id"] = "random"
    return samples


def _send(client: APIClient, method: str, path: str, body, content_type, headers: dict):
    headers = {"HTTP_USER_AGENT": BROWSER_UA, "HTTP_X_FORWARDED_FOR": IP, **headers}
    if method == "GET":
        return client.get(path, **headers)
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.generic("POST", path, data, content_type=content_type or "application/json", **headers)


def _record(client: APIClient) -> dict:
    out = {}
    for name, method, path, body, content_type, headers in CORPUS:
        response = _send(client, method, path, body, content_type, headers)
        out[name] = {
            "status": response.status_code,
            "answer": response.content.decode(),
            "retry_after": response.get("Retry-After"),
            "events": _queued_events(),
            "changes": _drained(buffers.PROFILE_BUFFER),
            "rejected_samples": _samples(),
            "counts": [list(part.items()) for part in counters.totals()],
        }
    return out


@pytest.fixture
def corpus_project(geoip, monkeypatch):
    project, secret = create_project("Corpus project", origins=["https://app.example.com"])
    for salt, value in zip(project.salts.all(), SALTS):  # newest first
        salt.salt = value
        salt.save()
    auth.forget(project.client_id)
    # Every request of the corpus is received at NOW_MS (the views read the clock for received_at).
    monkeypatch.setattr(views, "time", types.SimpleNamespace(time=lambda: NOW_MS / 1000))
    client = APIClient()
    client.credentials(HTTP_OPENPANEL_CLIENT_ID=str(project.client_id), HTTP_OPENPANEL_CLIENT_SECRET=secret)
    return project, client


def _text(record) -> bytes:
    return orjson.dumps(record, option=orjson.OPT_INDENT_2)


def test_answers_queued_messages_and_rows_are_unchanged(corpus_project):
    project, client = corpus_project
    assert project.id == "corpus-project"  # the golden rows name it
    _seed_live_sessions(project.id)
    recorded = _record(client)
    if os.environ.get("SPOOL_RECORD_CORPUS"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_bytes(_text(recorded) + b"\n")
    golden = orjson.loads(GOLDEN.read_bytes())
    assert list(recorded) == list(golden)
    for name, record in recorded.items():
        assert _text(record).decode() == _text(golden[name]).decode(), name
