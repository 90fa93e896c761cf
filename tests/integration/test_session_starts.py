"""Spec §7: session_start rows. One per session, whoever and however often it is written."""

import pytest

from tests.support import stored
from tests.support.agents import IPHONE_UA
from tests.support.children import run_at_once
from tests.support.events import at, now_ms, track
from tests.support.worker import drain

pytestmark = pytest.mark.django_db
WINDOW = 1_800_000


def historical_batch(start: int) -> dict:
    """1000 buffered events of 25 devices, all inside one 30-minute window."""
    return {"events": [at("reading", start + 10_000 + i * 1_500, device=f"sensor-{i % 25}", i=i) for i in range(1000)]}


def test_one_start_per_device_for_a_historical_window(api, project):
    start = (now_ms() - 2 * 86_400_000) // WINDOW * WINDOW
    body = historical_batch(start)
    assert api.post("/track/batch", body, format="json").json()["accepted"] == 1000
    drain()
    starts = stored.events(project.id, "name = 'session_start'")
    assert len(starts) == 25
    assert {row["device_id"] for row in starts} == {f"sensor-{i}" for i in range(25)}
    readings = stored.events(project.id, "name = 'reading'")
    assert len(readings) == 1000
    sessions = {row["device_id"]: row["session_id"] for row in starts}
    assert all(row["session_id"] == sessions[row["device_id"]] for row in readings)
    # Each start is 100 ms before the first event of its session.
    first = {}
    for row in readings:
        first[row["device_id"]] = min(first.get(row["device_id"], row["ms"]), row["ms"])
    assert all(row["ms"] == first[row["device_id"]] - 100 for row in starts)


def test_the_same_batch_twice_keeps_one_start_and_one_copy_of_each_event(api, project):
    start = (now_ms() - 2 * 86_400_000) // WINDOW * WINDOW
    body = historical_batch(start)
    api.post("/track/batch", body, format="json")
    drain()
    api.post("/track/batch", body, format="json")
    drain()
    assert stored.count(project.id, "name = 'session_start'") == 25
    assert stored.count(project.id, "name = 'reading'") == 1000


def test_two_windows_of_one_device_start_two_sessions(api, project):
    start = (now_ms() - 86_400_000) // WINDOW * WINDOW
    events = [at("a", start + 60_000, device="d"), at("b", start + WINDOW + 60_000, device="d")]
    api.post("/track/batch", {"events": events}, format="json")
    drain()
    starts = stored.events(project.id, "name = 'session_start'")
    assert len(starts) == 2
    assert len({row["session_id"] for row in starts}) == 2


def test_a_live_event_without_a_live_session_starts_one_100_ms_before_it(client_for, project):
    body = client_for(user_agent=IPHONE_UA).post("/track", track("screen_view", __path="/home"), format="json").json()
    drain()
    [start] = stored.events(project.id, "name = 'session_start'")
    [event] = stored.events(project.id, "name = 'screen_view'")
    assert start["ms"] == event["ms"] - 100
    assert start["session_id"] == event["session_id"] == body["sessionId"]
    assert start["path"] == "/home"
    assert start["device"] == "mobile" and start["os"] == "iOS"


def test_a_second_live_event_does_not_start_again(client_for, project):
    client = client_for(user_agent=IPHONE_UA)
    client.post("/track", track("a"), format="json")
    drain()
    client.post("/track", track("b"), format="json")
    drain()
    assert stored.count(project.id, "name = 'session_start'") == 1


def _drain_in_child():
    drain()


def test_concurrent_live_events_of_one_device_start_one_session(api, project):
    # Ten one-event batches are ten jobs; four workers take them at the same time.
    for i in range(10):
        api.post("/track/batch", {"events": [track("tap", __deviceId="shared-phone", i=i)]}, format="json")
    run_at_once(_drain_in_child, 4, timeout=60)
    taps = stored.events(project.id, "name = 'tap'")
    assert len(taps) == 10
    assert len({row["session_id"] for row in taps}) == 1
    assert stored.count(project.id, "name = 'session_start'") == 1


def test_server_events_never_start_sessions(client_for, project):
    server = client_for(user_agent="Go-http-client/1.1")
    server.post("/track", track("job_done", __deviceId="worker-1"), format="json")
    server.post("/track/batch", {"events": [at("old", now_ms() - 7_200_000, device="worker-1")]}, format="json")
    drain()
    assert stored.count(project.id, "name = 'session_start'") == 0
    assert stored.count(project.id, "name IN ('job_done', 'old')") == 2
