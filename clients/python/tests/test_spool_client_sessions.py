"""Issue 20: the client decides its sessions (contract §6.2 rule 0): a new one after `session_timeout`
seconds without events (30 minutes by default) or once it is 24 hours old, kept in the buffer so that
a restart goes on in it, sent as `__sessionId`."""
import os
import stat

import pytest
from conftest import Reply
from spool_client import SpoolClient


def sessions(server) -> list:
    return [line["payload"]["properties"]["__sessionId"] for line in server.lines()]


def runs(ids: list) -> list[int]:
    """The lengths of the runs of equal ids, in order."""
    lengths: list[int] = []
    for n, value in enumerate(ids):
        if n and value == ids[n - 1]:
            lengths[-1] += 1
        else:
            lengths.append(1)
    return lengths


def test_a_new_session_after_thirty_minutes_without_events(client, server, clock):
    client.track("a")
    clock.advance(29 * 60)
    client.track("b")  # 29 minutes later: the same session
    clock.advance(30 * 60 + 1)
    client.track("c")  # more than 30 minutes: a new one
    client.flush()
    ids = sessions(server)
    assert runs(ids) == [2, 1] and len(ids[0]) <= 128 and ids[0].isprintable()


def test_the_idle_time_is_a_setting(make_client, server, clock):
    client = make_client(session_timeout=60)
    client.track("a")
    clock.advance(61)
    client.track("b")
    client.flush()
    assert runs(sessions(server)) == [1, 1]
    with pytest.raises(ValueError, match="session_timeout"):
        make_client(session_timeout=0)


def test_the_kiosk_stream_of_forty_hours_is_two_sessions(client, server, clock):
    """An event every 4 minutes for 40 hours: never idle, so a session ends at 24 hours."""
    for _ in range(40 * 15):
        client.track("tick")
        clock.advance(240)
    while client.pending():
        client.flush()
    assert runs(sessions(server)) == [24 * 15, 16 * 15]


def test_a_restart_goes_on_in_the_same_session(make_client, server, clock):
    first = make_client()
    first.track("before")
    first.close()
    clock.advance(60)
    again = make_client()
    again.track("after")  # another process, a minute later: the session was kept in the file
    again.flush()
    assert runs(sessions(server)) == [2]


def test_an_event_with_its_own_time_is_in_the_session_of_that_time(client, server, clock):
    client.track("now")
    client.track("yesterday", timestamp=clock() - 86_400)  # back by more than the idle time: its own
    client.track("again")  # the clock now, after a session that began a day back: a new one again
    client.flush()
    assert runs(sessions(server)) == [1, 1, 1]


def test_the_apps_own_session_id_wins(client, server):
    client.track("e", {"__sessionId": "checkout-42"})
    client.flush()
    assert sessions(server) == ["checkout-42"]


def test_a_good_answer_clears_the_last_error(client, server, clock):
    server.answer = lambda received: Reply(503, {"error": "busy"}, {"Retry-After": "1"})
    client.track("e")
    result = client.flush()
    assert client.status().last_error == result.error and result.error
    server.answer = lambda received: Reply()
    clock.advance(5)
    client.flush()
    status = client.status()
    assert (status.pending, status.last_error, status.last_error_at) == (0, None, None)


def test_the_file_is_created_private_whatever_the_umask(server, tmp_path):
    path = str(tmp_path / "new.db")
    old = os.umask(0o000)
    try:
        SpoolClient(server.url, "id", path=path).close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
