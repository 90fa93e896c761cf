"""A crash at any point loses nothing and, once restarted, sends nothing that the server already
took: the process is killed (SIGKILL) before the send, after the send but before the delete, and at
every statement of the transactions that record a row and apply an answer."""
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Reply
from spool_client import SpoolClient

DRIVER = Path(__file__).with_name("crash_driver.py")
SOURCE = str(Path(__file__).resolve().parents[1])
NAMES = ["a", "refused", "flaky", "d", "e"]


def _run_killed(server, path, call, where, nth) -> bool:
    """Run the driver; True when it was killed at that point, False when it got past all points."""
    env = {**os.environ, "PYTHONPATH": SOURCE}
    done = subprocess.run([sys.executable, str(DRIVER), server.url, path, call, where, str(nth)], env=env, timeout=60)
    assert done.returncode in (0, -9), done
    return done.returncode == -9


def _rows(path):
    db = sqlite3.connect(path)
    try:
        buffered = [name for (name,) in db.execute("SELECT json_extract(body, '$.payload.name') FROM buffer ORDER BY seq")]
        dead = [name for (name,) in db.execute("SELECT json_extract(body, '$.payload.name') FROM dead_letters")]
        pending = db.execute("SELECT value FROM state WHERE key = 'pending'").fetchone()[0]
        assert pending == len(buffered)  # the counter moves in the same transactions as the rows
        return buffered, dead
    finally:
        db.close()


def _answer(received):
    rejected = []
    for index, line in enumerate(received.lines):
        if line["payload"]["name"] == "refused":
            rejected.append({"index": index, "reason": "validation", "code": "invalid_field", "error": "no"})
        if line["payload"]["name"] == "flaky":
            rejected.append({"index": index, "reason": "internal", "code": "internal_error", "error": "later"})
    return Reply(body={"accepted": len(received.lines) - len(rejected), "rejected": rejected})


def _fill(server, path):
    with SpoolClient(server.url, "id", path=path) as client:
        return [client.track(name) for name in NAMES]


def _every_point(server, tmp_path, call, where, fill):
    """Kill at the 1st, 2nd, ... point until the call gets through; yield each killed run's file."""
    for nth in range(1, 200):
        path = str(tmp_path / f"{where}-{nth}.db")
        fill(server, path)
        before = len(server.requests)
        if not _run_killed(server, path, call, where, nth):
            assert nth > 1, f"no point in {where}: the test tests nothing"
            return
        yield path, server.requests[before:]
    raise AssertionError("too many points")


@pytest.mark.parametrize("where", ["settle", "_transaction"])
def test_a_crash_while_an_answer_is_applied_leaves_the_state_before_or_after(server, tmp_path, where):
    server.answer = _answer
    states = set()
    for path, sent in _every_point(server, tmp_path, "flush", where, _fill):
        buffered, dead = _rows(path)
        assert (buffered, dead) in ((NAMES, []), (["flaky"], ["refused"])), (buffered, dead)
        states.add(len(buffered))
        # Restarted: it sends exactly what the file still holds, and everything has arrived.
        server.answer = lambda received: Reply()
        before = len(server.requests)
        with SpoolClient(server.url, "id", path=path) as client:
            client.flush()
            assert client.pending() == 0
        resent = [line["payload"]["name"] for r in server.requests[before:] for line in r.lines]
        assert resent == buffered
        assert [line["payload"]["name"] for line in sent[0].lines] == NAMES  # the first run did send
        server.answer = _answer
    if where == "_transaction":
        assert states == {1, 5}  # killed before the COMMIT and after it


def test_a_crash_before_the_send_sends_nothing_and_loses_nothing(server, tmp_path):
    path = str(tmp_path / "before.db")
    ids = _fill(server, path)
    assert _run_killed(server, path, "flush", "urlopen", 1)
    assert not server.requests and _rows(path) == (NAMES, [])
    with SpoolClient(server.url, "id", path=path) as client:
        client.flush()
    assert server.insert_ids() == ids


def test_a_crash_after_the_send_before_the_delete_sends_the_same_rows_again(server, tmp_path):
    path = str(tmp_path / "after.db")
    _fill(server, path)
    assert _run_killed(server, path, "flush", "_apply", 1)
    assert _rows(path) == (NAMES, [])  # the server took them, but the client never learnt it
    with SpoolClient(server.url, "id", path=path) as client:
        client.flush()
        assert client.pending() == 0
    first, again = server.requests
    assert first.lines == again.lines  # same insert ids, same times: Spool stores each row once


def _fill_to_the_limit(server, path):
    with SpoolClient(server.url, "id", path=path, max_buffer_events=5) as client:
        return [client.track(name) for name in NAMES]


@pytest.mark.parametrize("where", ["append", "_drop_oldest", "_transaction"])
def test_a_crash_while_recording_keeps_the_old_state_or_the_new_one_whole(server, tmp_path, where):
    # The buffer is full (5 of 5): recording one more also drops the oldest and counts it.
    states = set()
    for path, _ in _every_point(server, tmp_path, "track", where, _fill_to_the_limit):
        buffered, _ = _rows(path)
        db = sqlite3.connect(path)
        dropped = db.execute("SELECT value FROM state WHERE key = 'dropped_total'").fetchone()[0]
        db.close()
        assert (buffered, dropped) in ((NAMES, 0), (NAMES[1:] + ["crash"], 1)), (buffered, dropped)
        states.add(dropped)
    if where == "_transaction":
        assert states == {0, 1}  # killed before the COMMIT and after it
