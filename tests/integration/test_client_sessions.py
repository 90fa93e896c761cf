"""Issue 20: sessions the client decided (`__sessionId`, contract §6.2 rule 0): the client's session
whatever the buckets, the arrival order or the age of its events, one start and one end, scoped by
project and device, never reopened once ended."""
import base64
import hashlib

import pytest

from sessions_app.ends import close_historical_sessions, close_live_sessions
from tests.support import stored
from tests.support.events import at, now_ms
from tests.support.worker import drain

pytestmark = pytest.mark.django_db
MINUTE = 60_000
HOUR = 60 * MINUTE
TIMEOUT = 30 * MINUTE
WINDOW = 30 * MINUTE
EVENTS = "name NOT IN ('session_start', 'session_end')"


def spec_session_id(project_id: str, device: str, client_session: str) -> str:
    """Contract §6.2 rule 0, written out as the contract says it."""
    digest = hashlib.sha256(f"sess:client:{project_id}:{device}:{client_session}".encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def send(client, *events):
    response = client.post("/track/batch", {"events": list(events)}, format="json")
    assert response.status_code == 202 and response.json()["rejected"] == [], response.content
    drain()


def visit(start_ms: int, count: int, step_ms: int, device: str, session: str) -> list[dict]:
    return [at(f"e{n}", start_ms + n * step_ms, device, __sessionId=session) for n in range(count)]


def sweep(at_ms: int) -> None:
    close_live_sessions(at_ms)
    close_historical_sessions(at_ms)


def rows(project, name: str) -> list[dict]:
    return stored.events(project.id, f"name = '{name}'")


def half_past_before(ms: int) -> int:
    """A :00 or :30 wall-clock boundary, at least three hours before `ms`."""
    return (ms - 3 * HOUR) // WINDOW * WINDOW


def test_a_buffered_visit_across_a_bucket_boundary_is_one_session(api, project):
    boundary = half_past_before(now_ms())
    events = visit(boundary - 10 * MINUTE, 6, 4 * MINUTE, "kiosk-1", "visit-1")  # 20 minutes across :00/:30
    send(api, *events)
    stored_events = stored.events(project.id, EVENTS)
    expected = spec_session_id(project.id, "kiosk-1", "visit-1")
    assert {row["session_id"] for row in stored_events} == {expected}
    assert all("__sessionId" not in row["properties"] for row in stored_events)  # a transport key
    [start] = rows(project, "session_start")
    assert start["ms"] == boundary - 10 * MINUTE - 100 and start["session_id"] == expected

    sweep(now_ms())
    assert rows(project, "session_end") == []  # it was received just now: more of it may come
    sweep(now_ms() + TIMEOUT + 1_000)
    [end] = rows(project, "session_end")
    assert end["session_id"] == expected and end["duration"] == 20 * MINUTE
    assert end["ms"] == boundary + 10 * MINUTE + 1_000


def test_two_devices_with_the_same_session_id_keep_two_sessions(api, project):
    t0 = half_past_before(now_ms()) + 7 * MINUTE
    send(api, *visit(t0, 3, MINUTE, "phone-a", "1"), *visit(t0, 3, MINUTE, "phone-b", "1"))
    by_device = {(row["device_id"], row["session_id"]) for row in stored.events(project.id, EVENTS)}
    assert by_device == {("phone-a", spec_session_id(project.id, "phone-a", "1")),
                         ("phone-b", spec_session_id(project.id, "phone-b", "1"))}  # fmt: skip
    assert len(rows(project, "session_start")) == 2
    sweep(now_ms() + TIMEOUT + 1_000)
    assert {row["device_id"] for row in rows(project, "session_end")} == {"phone-a", "phone-b"}


def test_chunks_that_arrive_out_of_order_start_the_session_at_its_earliest_event(api, project):
    t0 = now_ms() - 5 * HOUR
    events = visit(t0, 30, 4 * MINUTE, "tablet-1", "long-visit")  # two hours: four buckets
    send(api, *events[20:])  # the device uploads the end of its buffer first
    send(api, *events[10:20])
    sweep(now_ms())  # a sweep between the uploads ends nothing: the session was just received
    send(api, *events[:10])
    expected = spec_session_id(project.id, "tablet-1", "long-visit")
    assert {row["session_id"] for row in stored.events(project.id, EVENTS)} == {expected}
    assert stored.count(project.id, EVENTS) == 30
    [start] = rows(project, "session_start")
    assert start["ms"] == t0 - 100 and start["name"] == "session_start"
    sweep(now_ms() + TIMEOUT + 1_000)
    [end] = rows(project, "session_end")
    assert (end["session_id"], end["duration"]) == (expected, 29 * 4 * MINUTE)


def test_a_live_client_session_ends_and_is_never_reopened(api, project):
    t0 = now_ms() - 6 * MINUTE
    send(api, *visit(t0, 3, 2 * MINUTE, "web-1", "s-live"))
    expected = spec_session_id(project.id, "web-1", "s-live")
    assert close_live_sessions(now_ms()) == 0  # still live
    assert close_live_sessions(now_ms() + TIMEOUT + 1_000) == 1
    [end] = rows(project, "session_end")
    assert (end["session_id"], end["duration"], end["ms"]) == (expected, 4 * MINUTE, t0 + 4 * MINUTE + 1_000)

    # The client goes on with the same id after the end (its own idle rule is longer than ours):
    # the ended session keeps its rows, the rest is a session of its own, with its own start and end.
    send(api, at("later", now_ms() - MINUTE, "web-1", __sessionId="s-live"))
    later = stored.events(project.id, "name = 'later'")[0]
    assert later["session_id"] == f"{expected}.1"
    starts = {row["session_id"]: row for row in rows(project, "session_start")}
    assert set(starts) == {expected, f"{expected}.1"}
    assert starts[expected]["ms"] == t0 - 100
    close_live_sessions(now_ms() + TIMEOUT + 1_000)
    assert {row["session_id"] for row in rows(project, "session_end")} == {expected, f"{expected}.1"}
    assert [row["duration"] for row in rows(project, "session_end") if row["session_id"] == expected] == [4 * MINUTE]


def test_a_client_session_ignores_gaps_longer_than_the_timeout(api, project):
    """The client decided (rules 1 and 2 are skipped): a 40-minute pause inside it does not split it."""
    t0 = now_ms() - 4 * HOUR
    send(api, at("a", t0, "car-1", __sessionId="trip"), at("b", t0 + 40 * MINUTE, "car-1", __sessionId="trip"))
    assert len({row["session_id"] for row in stored.events(project.id, EVENTS)}) == 1
    sweep(now_ms() + TIMEOUT + 1_000)
    [end] = rows(project, "session_end")
    assert end["duration"] == 40 * MINUTE


def test_a_single_event_answers_the_client_session(api, project):
    for _ in range(2):  # the second one finds the session live
        response = api.post("/track", at("tap", now_ms(), "watch-1", __sessionId="w"), format="json")
        assert response.status_code == 200, response.content
        assert response.json() == {"deviceId": "watch-1", "sessionId": spec_session_id(project.id, "watch-1", "w")}
    drain()
    assert {row["session_id"] for row in stored.events(project.id, EVENTS)} == {response.json()["sessionId"]}
    assert stored.count(project.id, EVENTS) == 2


@pytest.mark.parametrize(
    "value",
    ["", " ", "x" * 129, 42, ["a"], {"a": 1}, True, "tab\there", "nul\x00", "line\nbreak", "\u200b"],
)
def test_an_invalid_session_id_rejects_the_row(api, project, value):
    good = at("ok", now_ms(), "d-1", __sessionId="x" * 128)
    bad = at("bad", now_ms(), "d-1", __sessionId=value)
    response = api.post("/track/batch", {"events": [good, bad]}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 1
    [rejected] = body["rejected"]
    assert (rejected["index"], rejected["code"], rejected["reason"]) == (1, "invalid_session_id", "validation")
    assert "__sessionId" in rejected["error"]
    single = api.post("/track", bad, format="json")
    assert single.status_code == 400 and single.json()["code"] == "invalid_session_id"
