"""Recording: what track / identify / increment put in the buffer, durably, before they return."""
import datetime as dt
import sqlite3
import uuid

import pytest
from spool_client import SpoolClient


def test_track_buffers_an_event_with_its_insert_id_time_and_device(client, server):
    insert_id = client.track("app_open", {"screen": "home"}, profile_id="user-1")

    assert uuid.UUID(insert_id).version == 4
    assert client.pending() == 1
    client.flush()
    [event] = server.lines()
    assert event == {
        "type": "track",
        "payload": {
            "name": "app_open",
            "profileId": "user-1",
            "properties": {
                "screen": "home",
                "__insertId": insert_id,
                "__timestamp": "2025-11-24T16:00:00.000Z",
                "__deviceId": client.device_id,
                "__sessionId": client.status().session_id,
            },
        },
    }


def test_the_time_is_the_device_clock_at_the_call_not_at_the_send(client, server, clock):
    client.track("first")
    clock.advance(3 * 86400 + 0.25)  # three days offline
    client.track("second")
    clock.advance(3600)
    client.flush()

    times = [line["payload"]["properties"]["__timestamp"] for line in server.lines()]
    assert times == ["2025-11-24T16:00:00.000Z", "2025-11-27T16:00:00.250Z"]
    assert server.requests[0].headers["spool-sent-at"] == "2025-11-27T17:00:00.250Z"


@pytest.mark.parametrize(
    "timestamp, sent",
    [
        (dt.datetime(2025, 11, 20, 8, 30, 0, 123456, tzinfo=dt.timezone.utc), "2025-11-20T08:30:00.123Z"),
        (dt.datetime(2025, 11, 20, 8, 30), "2025-11-20T08:30:00.000Z"),  # naive: UTC, as on the server
        (dt.datetime(2025, 11, 20, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))), "2025-11-20T08:30:00.000Z"),
        (1_763_627_400.5, "2025-11-20T08:30:00.500Z"),  # epoch seconds, like the clock
        ("2025-11-20T08:30:00+01:00", "2025-11-20T08:30:00+01:00"),  # a string goes as it is
        (0, "1970-01-01T00:00:00.000Z"),  # a clock never set: ISO, not a number the server reads as seconds
    ],
)
def test_an_explicit_timestamp(client, server, timestamp, sent):
    client.track("backdated", timestamp=timestamp)
    client.flush()
    assert server.lines()[0]["payload"]["properties"]["__timestamp"] == sent


def test_the_apps_own_specials_win(client, server):
    returned = client.track("e", {"__insertId": "order-17", "__deviceId": "till-3", "__timestamp": 1_700_000_000_000})
    client.flush()
    properties = server.lines()[0]["payload"]["properties"]
    assert returned == "order-17"
    assert properties == {"__insertId": "order-17", "__deviceId": "till-3", "__timestamp": 1_700_000_000_000,
                          "__sessionId": client.status().session_id}  # fmt: skip


def test_the_device_id_is_made_once_and_kept_in_the_file(make_client, buffer_path):
    first = make_client().device_id
    again = make_client().device_id
    given = make_client(device_id="kiosk-7").device_id

    assert first == again and uuid.UUID(first)
    assert given == "kiosk-7"
    # Issue 20: a given id is kept in the file; reopening without one goes on with it (the status too).
    reopened = make_client()
    assert reopened.device_id == "kiosk-7" and reopened.status().device_id == "kiosk-7"


@pytest.mark.parametrize("device_id", ["", "   ", "x" * 65])
def test_a_bad_device_id_is_refused_at_once(make_client, device_id):
    with pytest.raises(ValueError, match="device_id"):
        make_client(device_id=device_id)


def test_profile_changes_are_buffered_as_envelopes(client, server):
    client.identify("user-1", first_name="Ada", email="ada@example.com", properties={"plan": "pro"})
    client.increment("user-1", "visits")
    client.decrement("user-1", "credits", 5)
    client.flush()

    assert server.lines() == [
        {"type": "identify", "payload": {"profileId": "user-1", "firstName": "Ada", "email": "ada@example.com",
                                         "properties": {"plan": "pro"}}},
        {"type": "increment", "payload": {"profileId": "user-1", "property": "visits", "value": 1}},
        {"type": "decrement", "payload": {"profileId": "user-1", "property": "credits", "value": 5}},
    ]  # fmt: skip


def test_common_python_values_are_sent_and_others_refused_at_the_call(client, server):
    client.track("typed", {"at": dt.date(2025, 1, 2), "id": uuid.UUID(int=1), "tags": {"b", "a"}})
    client.flush()
    assert server.lines()[0]["payload"]["properties"]["at"] == "2025-01-02"
    assert server.lines()[0]["payload"]["properties"]["tags"] == ["a", "b"]

    with pytest.raises(TypeError, match="object"):
        client.track("bad", {"thing": object()})
    with pytest.raises(ValueError, match="cannot send"):
        client.track("bad", {"ratio": float("nan")})
    with pytest.raises(TypeError, match="properties must be a dict"):
        client.track("bad", [("a", 1)])
    assert client.pending() == 0  # a refused call buffers nothing


def test_a_lone_surrogate_is_buffered_not_a_crash(client, server):
    client.track("text", {"name": "a\ud800b"})
    client.flush()
    assert server.lines()[0]["payload"]["properties"]["name"] == "a\ud800b"  # escaped; Spool drops it


def test_the_file_is_wal_and_commits_are_synced(client, buffer_path):
    client.track("e")
    db = sqlite3.connect(buffer_path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert client._buffer._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert db.execute("SELECT count(*) FROM buffer").fetchone()[0] == 1  # committed: another reader sees it


def test_a_url_that_is_not_http_is_refused(buffer_path):
    with pytest.raises(ValueError, match="http"):
        SpoolClient("file:///etc/passwd", "id", path=buffer_path)


def test_records_from_many_threads_all_arrive(client, server):
    import threading

    def record(worker):
        for number in range(20):
            client.track("threaded", {"worker": worker, "n": number})

    threads = [threading.Thread(target=record, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert client.pending() == 160
    client.flush()
    assert len(set(server.insert_ids())) == 160 and client.pending() == 0


def test_a_closed_client_says_so(client):
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        client.track("late")
    client.close()  # twice is fine

