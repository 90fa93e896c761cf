"""Issue 3: sessions that end. Live sessions end from their Redis state, historical ones from
their stored events; every session has at most one session_end row."""

import pytest

from projects.services import rotate_salts
from sessions_app.ends import close_historical_sessions, close_live_sessions
from tests.support import stored
from tests.support.agents import IPHONE_UA
from tests.support.children import run_at_once
from tests.support.events import at, iso, now_ms, track
from tests.support.worker import drain

pytestmark = pytest.mark.django_db
MINUTE = 60_000
TIMEOUT = 30 * MINUTE
WINDOW = 30 * MINUTE


def send(client, *events):
    response = client.post("/track/batch", {"events": list(events)}, format="json")
    assert response.status_code == 202 and response.json()["rejected"] == [], response.content
    drain()


def ends(project):
    return stored.events(project.id, "name = 'session_end'")


def test_a_live_session_of_three_events_starts_once_and_ends_once(client_for, project):
    client = client_for(user_agent=IPHONE_UA)
    t0 = now_ms() - 20 * MINUTE
    send(client, at("screen_view", t0, __path="/home", __referrer="https://www.google.com/"))
    send(client, {"type": "track", "payload": {"name": "tap", "profileId": "user-1", "properties": {"__timestamp": iso(t0 + 4 * MINUTE)}}})
    send(client, at("screen_view", t0 + 9 * MINUTE, __path="/checkout"))
    events = stored.events(project.id, "name NOT IN ('session_start', 'session_end')")
    assert len({row["session_id"] for row in events}) == 1

    assert close_live_sessions(now_ms()) == 0  # not idle for 30 minutes yet
    assert ends(project) == []
    last = t0 + 9 * MINUTE
    assert close_live_sessions(last + TIMEOUT) == 1
    [start] = stored.events(project.id, "name = 'session_start'")
    [end] = ends(project)
    assert end["session_id"] == start["session_id"] == events[0]["session_id"]
    assert end["ms"] == last + 1000
    assert end["duration"] == 9 * MINUTE
    assert end["properties"]["__bounce"] == "0"
    assert end["path"] == "/checkout"
    assert end["profile_id"] == "user-1"
    assert end["device_id"] == events[0]["device_id"]
    assert (end["referrer_name"], end["os"], end["device"]) == ("Google", "iOS", "mobile")


def test_one_screen_view_is_a_bounce(api, project):
    t0 = now_ms() - 5 * MINUTE
    send(api, at("screen_view", t0, device="d1", __path="/only"))
    close_live_sessions(t0 + TIMEOUT)
    [end] = ends(project)
    assert end["properties"]["__bounce"] == "1"
    assert end["duration"] == 0
    assert end["profile_id"] == "d1"


def test_an_extended_session_keeps_one_end(api, project):
    t0 = now_ms() - 25 * MINUTE
    send(api, at("a", t0, device="d2"))
    assert close_live_sessions(t0 + TIMEOUT - 1) == 0
    send(api, at("b", t0 + 10 * MINUTE, device="d2"))
    assert close_live_sessions(t0 + TIMEOUT + 1) == 0  # the deadline moved with the new event
    assert close_live_sessions(t0 + 10 * MINUTE + TIMEOUT) == 1
    assert close_live_sessions(t0 + 10 * MINUTE + TIMEOUT + 5 * MINUTE) == 0  # already forgotten
    [end] = ends(project)
    assert end["duration"] == 10 * MINUTE


def _close_at(now):
    close_live_sessions(now)


def test_sweeps_running_at_once_write_one_end(api, project):
    """Two schedulers may fire together; the end row's id is deterministic, so one row remains."""
    t0 = now_ms() - 5 * MINUTE
    send(api, at("a", t0, device="d3"), at("b", t0 + MINUTE, device="d3"))
    run_at_once(_close_at, 4, timeout=30, args=(t0 + MINUTE + TIMEOUT,))
    [end] = ends(project)
    assert end["duration"] == MINUTE


def historical(start, device, minutes):
    return [at("reading", start + minute * MINUTE, device=device, m=minute) for minute in minutes]


def test_historical_buckets_each_end_once_with_their_duration(api, project):
    start = (now_ms() - 2 * 86_400_000) // WINDOW * WINDOW
    # Two buckets of one device: minutes 1..21 and 31..33 (the second bucket starts at minute 30 + 5 s).
    send(api, *historical(start, "sensor", [1, 6, 21, 31, 33]))
    assert close_historical_sessions(now_ms()) == 0  # events arrived just now
    assert close_historical_sessions(now_ms() + TIMEOUT + 1000) == 2
    rows = sorted(ends(project), key=lambda row: row["ms"])
    assert [row["duration"] for row in rows] == [20 * MINUTE, 2 * MINUTE]
    assert [row["ms"] for row in rows] == [start + WINDOW + 4_999, start + 2 * WINDOW + 4_999]
    assert all(row["device_id"] == "sensor" for row in rows)
    assert close_historical_sessions(now_ms() + 2 * TIMEOUT) == 0


def test_a_late_event_corrects_an_ended_historical_session(api, project):
    start = (now_ms() - 86_400_000) // WINDOW * WINDOW
    send(api, *historical(start, "sensor", [2, 4]))
    close_historical_sessions(now_ms() + TIMEOUT + 1000)
    [first] = ends(project)
    assert first["duration"] == 2 * MINUTE
    send(api, *historical(start, "sensor", [25]))  # buffered on another device path, arrives late
    assert close_historical_sessions(now_ms() + 1000) == 1  # recomputed at the next sweep
    [corrected] = ends(project)
    assert corrected["id"] == first["id"] and corrected["ms"] == first["ms"]
    assert corrected["duration"] == 23 * MINUTE


def test_server_events_join_the_live_session_of_their_profile(client_for, project, geoip):
    browser = client_for(user_agent=IPHONE_UA, ip="81.2.69.142")
    body = {"type": "track", "payload": {"name": "screen_view", "profileId": "buyer",
            "properties": {"__path": "https://shop.example.com/cart", "__referrer": "https://t.co/x"}}}  # fmt: skip
    ids = browser.post("/track", body, format="json").json()
    drain()
    server = client_for(user_agent="Go-http-client/1.1", ip="216.160.83.56")
    server.post("/track", {"type": "track", "payload": {"name": "paid", "profileId": "buyer"}}, format="json")
    server.post("/track", {"type": "track", "payload": {"name": "other", "profileId": "stranger"}}, format="json")
    drain()
    rows = {row["name"]: row for row in stored.events(project.id)}
    paid = rows["paid"]
    assert (paid["device_id"], paid["session_id"]) == (ids["deviceId"], ids["sessionId"])
    assert (paid["country"], paid["city"], paid["os"], paid["device"]) == ("GB", "London", "iOS", "mobile")
    assert (paid["path"], paid["origin"], paid["referrer_name"]) == ("/cart", "https://shop.example.com", "Twitter")
    other = rows["other"]
    assert other["device"] == "server" and other["country"] == "US"
    assert stored.count(project.id, "name = 'session_start'") == 1


def test_a_live_session_keeps_its_id_across_a_salt_rotation(client_for, project):
    client = client_for(user_agent=IPHONE_UA)
    before = client.post("/track", track("screen_view"), format="json").json()
    drain()
    rotate_salts([project])
    after = client.post("/track", track("screen_view"), format="json").json()
    drain()
    assert after == before
    rows = stored.events(project.id, "name = 'screen_view'")
    assert {(row["device_id"], row["session_id"]) for row in rows} == {(before["deviceId"], before["sessionId"])}
    # A visitor with no live session gets a device id under the new salt.
    fresh = client_for(user_agent=IPHONE_UA, ip="216.160.83.56").post("/track", track("x"), format="json").json()
    assert fresh["deviceId"] != before["deviceId"]


def test_a_live_session_end_carries_the_sdk_of_its_first_event(client_for, project):
    client = client_for(user_agent=IPHONE_UA, HTTP_OPENPANEL_SDK_NAME="web", HTTP_OPENPANEL_SDK_VERSION="1.2.3")
    t0 = now_ms() - 5 * MINUTE
    send(client, at("screen_view", t0, device="d5"))
    close_live_sessions(t0 + TIMEOUT)
    [end] = ends(project)
    assert (end["sdk_name"], end["sdk_version"]) == ("web", "1.2.3")


def test_one_sweep_ends_every_due_session_whatever_their_number(api, project):
    """Issue 9, finding 9: the sweep had a fixed capacity of 500 live sessions for all projects."""
    t0 = now_ms() - 10 * MINUTE
    send(api, *[at("screen_view", t0 + i, device=f"busy-{i}") for i in range(1_200)])
    assert close_live_sessions(t0 + 1_200 + TIMEOUT) == 1_200
    assert stored.count(project.id, "name = 'session_end'") == 1_200


@pytest.mark.parametrize("damage", ["expired", "unreadable"])
def test_a_live_session_whose_state_is_gone_still_ends(api, project, damage):
    """State that expired before a sweep reached it (sweeps stopped for days) must not lose its end,
    and a state that cannot be read must not stop the sweep (it would stay due for ever)."""
    from storage.redis import client as redis
    from storage.redis import keys

    t0 = now_ms() - 10 * MINUTE
    send(api, at("screen_view", t0, device="d6", __path="/in"), at("screen_view", t0 + MINUTE, device="d6", __path="/out"))
    [start] = stored.events(project.id, "name = 'session_start'")
    state = keys.live_session(project.id, start["session_id"])
    if damage == "expired":
        redis.client().delete(state)  # as the key's expiry would
    else:
        redis.client().hset(state, "snapshot", "{not json")
    assert close_live_sessions(t0 + MINUTE + TIMEOUT) == 1
    [end] = ends(project)
    assert (end["session_id"], end["duration"], end["path"]) == (start["session_id"], MINUTE, "/out")
    assert end["ms"] == t0 + MINUTE + 1000
    assert close_live_sessions(t0 + MINUTE + 2 * TIMEOUT) == 0
