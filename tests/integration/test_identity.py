"""Spec §6: device ids and session ids, live and deterministic."""
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

