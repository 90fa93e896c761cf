"""Spec §6: device ids and session ids, live and deterministic."""
import time

import pytest

from sessions_app.identity import bucket_of, session_id_for
from tests.support import stored
from tests.support.agents import IPHONE_UA
from tests.support.events import at, now_ms, track
from tests.support.worker import drain

pytestmark = pytest.mark.django_db
WINDOW = 1_800_000
HOUR = 3_600_000


def batch(api, *events):
    response = api.post("/track/batch", {"events": list(events)}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["rejected"] == []
    return response


def window_start(days_ago: int = 2) -> int:
    """The start of a 30-minute window a few days back (buffered events live there)."""
    return (now_ms() - days_ago * 86_400_000) // WINDOW * WINDOW


def test_device_id_from_client_is_kept_and_session_id_is_set(api, project):
    batch(api, at("e", now_ms() - HOUR, device="phone-42"))
    drain()
    [row] = stored.events(project.id, "name = 'e'")
    assert row["device_id"] == "phone-42"
    assert row["profile_id"] == "phone-42"
    assert row["session_id"]


def test_single_track_answers_with_its_ids(api, project):
    body = api.post("/track", track("e", __deviceId="phone-7"), format="json").json()
    assert body["deviceId"] == "phone-7"
    assert body["sessionId"]
    drain()
    [row] = stored.events(project.id, "name = 'e'")
    assert (row["device_id"], row["session_id"]) == (body["deviceId"], body["sessionId"])


def test_hashed_device_id_depends_on_user_agent_and_ip(client_for, project):
    first = client_for(ip="81.2.69.142").post("/track", track("e"), format="json").json()
    same = client_for(ip="81.2.69.142").post("/track", track("e"), format="json").json()
    other_ip = client_for(ip="216.160.83.56").post("/track", track("e"), format="json").json()
    other_ua = client_for(ip="81.2.69.142", user_agent=IPHONE_UA).post("/track", track("e"), format="json").json()
    assert len(first["deviceId"]) == 32
    assert first["deviceId"] == same["deviceId"]
    assert len({first["deviceId"], other_ip["deviceId"], other_ua["deviceId"]}) == 3


def test_events_one_hour_apart_are_different_sessions(api, project):
    start = window_start()
    batch(api, at("a", start + 60_000, device="d1"))
    batch(api, at("b", start + 60_000 + HOUR, device="d1"))
    drain()
    a, b = stored.events(project.id, "name IN ('a', 'b')")
    assert a["session_id"] != b["session_id"]


def test_events_five_minutes_apart_in_one_window_share_a_session_across_requests(api, project):
    start = window_start()
    batch(api, at("a", start + 60_000, device="d1"))
    drain()
    batch(api, at("b", start + 360_000, device="d1"))
    drain()
    a, b = stored.events(project.id, "name IN ('a', 'b')")
    assert a["session_id"] == b["session_id"]


def test_first_five_seconds_of_a_window_belong_to_the_previous_one(api, project):
    start = window_start()
    batch(
        api,
        at("before", start - 10_000, device="d1"),
        at("grace", start + 3_000, device="d1"),
        at("after", start + 6_000, device="d1"),
    )
    drain()
    rows = {row["name"]: row for row in stored.events(project.id, "name IN ('before', 'grace', 'after')")}
    assert rows["grace"]["session_id"] == rows["before"]["session_id"]
    assert rows["after"]["session_id"] != rows["before"]["session_id"]
    assert rows["after"]["session_id"] == session_id_for(project.id, "d1", bucket_of(start + 6_000, WINDOW))


def test_live_events_of_one_visit_share_a_session(client_for, project):
    client = client_for(user_agent=IPHONE_UA)
    first = client.post("/track", track("screen_view", __path="/a"), format="json").json()
    drain()
    second = client.post("/track", track("screen_view", __path="/b"), format="json").json()
    drain()
    assert first == second
    rows = stored.events(project.id, "name = 'screen_view'")
    assert {row["session_id"] for row in rows} == {first["sessionId"]}


def test_a_live_session_keeps_its_id_past_its_window(api, project):
    """Events of a live visit that crosses a window boundary stay in the visit's session."""
    start = now_ms() // WINDOW * WINDOW  # the current window; events may be placed before now
    early = max(start - 20 * 60_000, now_ms() - 25 * 60_000)
    batch(api, at("open", early, device="d9"))
    drain()
    batch(api, at("later", now_ms() - 1000, device="d9"))
    drain()
    a, b = stored.events(project.id, "name IN ('open', 'later')")
    assert a["session_id"] == b["session_id"]


def test_device_id_endpoint(api, project):
    body = api.get("/track/device-id").json()
    sent = api.post("/track", track("e"), format="json").json()
    assert body == sent
    assert api.get("/api/track/device-id").json() == body


def test_server_user_agent_keeps_its_own_ids_and_never_starts_a_session(client_for, project):
    server = client_for(user_agent="python-requests/2.32.3")
    body = server.post("/track", track("backend", __deviceId="svc-1"), format="json").json()
    server.post("/track/batch", {"events": [at("backend-old", now_ms() - 3 * HOUR, device="svc-1")]}, format="json")
    drain()
    rows = stored.events(project.id)
    assert {row["name"] for row in rows} == {"backend", "backend-old"}
    live = next(row for row in rows if row["name"] == "backend")
    assert (live["device_id"], live["session_id"]) == ("svc-1", body["sessionId"])
    assert live["device"] == "server"
    assert live["os"] == live["browser"] == ""



def test_a_clock_ahead_device_stores_each_event_once_however_often_it_resends(api, project):
    """Finding 5: a time more than 60 s ahead is clamped to received_at, and the id used to hash the
    clamped time, so every re-send stored another copy. Ids hash the time as sent (contract §6.3)."""
    ahead = now_ms() + 2 * HOUR
    events = [at("ahead", ahead, device="fast-clock"), track("ahead_undevice", __timestamp=ahead + 1)]
    for _ in range(3):
        batch(api, *events)
        api.post("/track", events[0], format="json")
        time.sleep(0.01)  # another received_at, so another clamped time
    drain()
    rows = stored.events(project.id, "name IN ('ahead', 'ahead_undevice')")
    assert sorted(row["name"] for row in rows) == ["ahead", "ahead_undevice"]
    assert all(abs(row["ms"] - now_ms()) < 60_000 for row in rows)  # still stored at received_at


def test_insert_ids_are_scoped_by_the_client_device_and_the_event_name(api, project):
    """Finding 6 (contract §6.3 r2): two devices counting their events from 1 used to share row ids."""
    when = now_ms() - HOUR
    sent = [
        at("purchase", when, device="phone-a", __insertId="1", amount=10),
        at("purchase", when + 5, device="phone-b", __insertId="1", amount=20),
        at("refund", when + 9, device="phone-a", __insertId="1"),
    ]
    batch(api, *sent)
    batch(api, *sent)  # a retry collapses onto the same ids
    batch(api, at("purchase", when, device="phone-a", __insertId="1", amount=10, retried="yes"))
    drain()
    rows = stored.events(project.id, "name IN ('purchase', 'refund')")
    assert sorted((row["name"], row["device_id"]) for row in rows) == [
        ("purchase", "phone-a"), ("purchase", "phone-b"), ("refund", "phone-a"),
    ]  # fmt: skip
    assert next(r for r in rows if r["device_id"] == "phone-b")["properties"]["amount"] == "20"


def test_without_a_device_id_an_insert_id_is_the_clients_alone(client_for, project):
    """A client without `__deviceId` must use insert ids unique everywhere (docs/api.md): its key has
    no device in it, since a hashed device id changes with the network and the day."""
    when = now_ms() - HOUR
    event = track("signup", __timestamp=when, __insertId="6f1c2d8e-6d39-4a43-9d6b-1c0f5a4a1a11")
    for ip in ("81.2.69.142", "216.160.83.56"):  # the same phone on wifi, then on mobile data
        client_for(ip=ip).post("/track/batch", {"events": [event]}, format="json")
    drain()
    assert stored.count(project.id, "name = 'signup'") == 1


def test_every_answer_gives_the_ids_of_the_live_session(client_for, project, settings):
    """Finding 7 (contract §6.2 r2): the answers to profile changes and GET /track/device-id gave the
    bucket of now while the caller was in a live session; the JS SDK stores what each answer holds."""
    settings.SESSION_WINDOW_SECONDS = 60  # buckets of a minute: a visit soon outlives its bucket
    client = client_for(user_agent=IPHONE_UA)
    opened = client.post("/track", track("screen_view", __timestamp=now_ms() - 150_000), format="json").json()
    drain()
    live = {"deviceId": opened["deviceId"], "sessionId": opened["sessionId"]}
    assert live["sessionId"] != session_id_for(project.id, live["deviceId"], bucket_of(now_ms(), 60_000))
    payloads = [
        ("identify", {"profileId": "u-live", "firstName": "Ada"}),
        ("increment", {"profileId": "u-live", "property": "visits"}),
        ("decrement", {"profileId": "u-live", "property": "visits"}),
        ("group", {"id": "g1", "type": "company", "name": "Acme"}),
        ("assign_group", {"groupIds": ["g1"]}),
        ("assign_group", {"groupIds": ["g1"], "profileId": "u-live"}),
        ("track", {"name": "tap"}),
    ]
    for kind, payload in payloads:
        answer = client.post("/track", {"type": kind, "payload": payload}, format="json")
        assert answer.status_code == 200, answer.content
        assert answer.json() == live, kind
    assert client.get("/track/device-id").json() == live


def test_server_senders_get_their_own_ids_in_every_answer(client_for, project):
    server = client_for(user_agent="python-requests/2.32.3")
    ids = server.get("/track/device-id").json()
    answer = server.post("/track", {"type": "identify", "payload": {"profileId": "svc"}}, format="json").json()
    assert answer == ids
