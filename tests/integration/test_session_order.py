"""Issue 9, finding 8, contract §7 (r2): a session_start sits 100 ms before the session's earliest
event whatever the order in which batches, chunks and workers see its events, and never moves
later; an ended session is never reopened under its id.

The order-independence tests send the events of one session in every order: last part first,
interleaved, re-sent, split into many chunks, and taken by several workers at once. Each time
there must be exactly one session_start, 100 ms before the earliest event, and one session_end."""
import itertools
import time

import pytest

from sessions_app.ends import close_historical_sessions, close_live_sessions
from sessions_app.jobs import close_sessions
from storage.redis import client as redis
from tests.support import stored
from tests.support.agents import IPHONE_UA
from tests.support.children import run_at_once
from tests.support.events import at, now_ms
from tests.support.waiting import eventually
from tests.support.worker import drain

pytestmark = pytest.mark.django_db
MINUTE = 60_000
WINDOW = 30 * MINUTE
TIMEOUT = 30 * MINUTE
DAY = 86_400_000


def session_rows(project_id: str, name: str) -> list[dict]:
    return stored.events(project_id, f"name = '{name}'")


def send(client, events: list[dict]) -> None:
    response = client.post("/track/batch", {"events": events}, format="json")
    assert response.status_code == 202 and response.json()["rejected"] == [], response.content


def start_ms(project_id: str) -> int | None:
    starts = session_rows(project_id, "session_start")
    assert len(starts) <= 1, starts
    return starts[0]["ms"] if starts else None


def check_one_session(project_id: str, earliest: int) -> None:
    events = stored.events(project_id, "name NOT IN ('session_start', 'session_end')")
    [start] = session_rows(project_id, "session_start")
    [end] = session_rows(project_id, "session_end")
    assert start["ms"] == earliest - 100
    assert {row["session_id"] for row in events} == {start["session_id"]} == {end["session_id"]}
    assert start["properties"]["i"] == "0"  # the earliest event's own row, renamed


# --- historical sessions: a device that was offline ----------------------------------------------
def offline_session(days_ago: int = 2) -> list[dict]:
    """Twelve events of one device, 90 s apart, inside one 30-minute bucket."""
    start = (now_ms() - days_ago * DAY) // WINDOW * WINDOW + MINUTE
    return [at("reading", start + i * 90_000, device="offline-1", i=i) for i in range(12)]


def parts(events: list[dict]) -> dict[str, list[dict]]:
    return {"A": events[:4], "B": events[4:8], "C": events[8:]}


ORDERS = {
    **{"".join(order): [[part] for part in order] for order in itertools.permutations("ABC")},
    "interleaved, odd first": [["odd"], ["even"]],
    "re-sent": [["C"], ["A", "B", "C"], ["A"], ["B"], ["C"]],
    "all at once": [["A", "B", "C"]],
}


def batches(events: list[dict], order: list[list[str]]) -> list[list[dict]]:
    named = {**parts(events), "odd": events[1::2], "even": events[0::2]}
    return [[event for name in batch for event in named[name]] for batch in order]


@pytest.mark.parametrize("order", ORDERS, ids=list(ORDERS))
def test_a_historical_session_starts_before_its_earliest_event_in_any_order(api, project, order):
    events = offline_session()
    earliest = events[0]["payload"]["properties"]["__timestamp"]
    seen = []
    for batch in batches(events, ORDERS[order]):
        send(api, batch)
        drain()
        seen.append(start_ms(project.id))
        assert seen == sorted(seen, reverse=True), f"the start moved later: {seen}"
    assert close_historical_sessions(now_ms() + TIMEOUT + 1000) == 1
    check_one_session(project.id, _ms(earliest))


@pytest.mark.parametrize("order", ["CBA", "interleaved, odd first", "re-sent"])
def test_chunks_of_one_session_in_any_order_and_many_workers_give_one_start(api, project, order, settings):
    settings.EVENTS_PER_JOB = 2  # a batch becomes many chunks
    events = offline_session()
    for batch in batches(events, ORDERS[order]):
        send(api, batch)
    run_workers(3)
    assert close_historical_sessions(now_ms() + TIMEOUT + 1000) == 1
    check_one_session(project.id, _ms(events[0]["payload"]["properties"]["__timestamp"]))


def test_a_start_never_moves_later_once_its_redis_state_is_gone(api, project):
    """The session-start lock of the previous release expired after 30 minutes; a later part of the
    session arriving after that wrote a start at its own, later, time."""
    events = offline_session(days_ago=3)
    send(api, events[:4])
    drain()
    first = start_ms(project.id)
    for key in redis.client().scan_iter(match="spool:session_start*"):
        redis.client().delete(key)  # as if days went by
    send(api, events[6:])
    drain()
    assert start_ms(project.id) == first == _ms(events[0]["payload"]["properties"]["__timestamp"]) - 100


def test_a_start_that_moves_to_the_day_before_leaves_no_row_on_the_later_day(api, project):
    """The bucket that begins at 23:30:05 ends at 00:00:05: its first events of the day after may
    arrive first. The start's day is part of the sorting key, so the earlier start is another row."""
    midnight = (now_ms() - 2 * DAY) // DAY * DAY
    after_midnight = [at("reading", midnight + 2_000, device="offline-2", i=1)]
    before_midnight = [at("reading", midnight - 15 * MINUTE, device="offline-2", i=0)]
    send(api, after_midnight)
    drain()
    assert start_ms(project.id) == midnight + 2_000 - 100
    send(api, before_midnight)
    drain()
    close_sessions()  # the sweep removes the start row left on the later day
    eventually(lambda: len(stored.events(project.id, "name = 'session_start'")) == 1, 60, every=1,
               what="the later day's start row deleted")  # fmt: skip
    assert start_ms(project.id) == midnight - 15 * MINUTE - 100
    assert close_historical_sessions(now_ms() + TIMEOUT + 1000) == 1
    check_one_session(project.id, midnight - 15 * MINUTE)


# --- live sessions ----------------------------------------------------------------------------------
def live_events(count: int, first_ms: int) -> list[dict]:
    return [at("screen_view", first_ms + i * 30_000, device="phone-1", i=i, __path=f"/p{i}") for i in range(count)]


def test_a_live_session_sent_last_part_first_starts_before_its_earliest_event(client_for, project):
    client = client_for(user_agent=IPHONE_UA)
    events = live_events(6, now_ms() - 10 * MINUTE)
    send(client, events[3:])
    drain()
    send(client, events[:3])
    drain()
    close_live_sessions(now_ms() + TIMEOUT)
    check_one_session(project.id, _ms(events[0]["payload"]["properties"]["__timestamp"]))


def test_live_chunks_taken_by_parallel_workers_give_one_start_before_the_earliest_event(client_for, project):
    client = client_for(user_agent=IPHONE_UA)
    events = live_events(8, now_ms() - 10 * MINUTE)
    for batch in (events[6:], events[4:6], events[2:4], events[:2]):
        send(client, batch)
    run_workers(4)
    close_live_sessions(now_ms() + TIMEOUT)
    check_one_session(project.id, _ms(events[0]["payload"]["properties"]["__timestamp"]))


def event_at(project_id: str, ms: int) -> list[dict]:
    return stored.events(project_id, "name = 'screen_view' AND toUInt64(created_at) * 1000 + created_at_ms = %(ms)s",
                         {"ms": ms})  # fmt: skip


def same_bucket(count: int, spacing: int, newest: int) -> list[int]:
    """`count` times `spacing` ms apart, the last at or before `newest`, all in one bucket and live."""
    last = newest
    if last - spacing * (count - 1) < (last // WINDOW) * WINDOW + 10_000:
        last = (last // WINDOW) * WINDOW - 10_000  # too close to a window's start: use the window before
    return [last - spacing * (count - 1 - i) for i in range(count)]


def test_an_ended_live_session_is_never_reopened_under_its_id(client_for, project):
    client = client_for(user_agent=IPHONE_UA)
    first, second, later = same_bucket(3, 2 * MINUTE, now_ms() - MINUTE)
    send(client, [at("screen_view", first, device="phone-2", i=0), at("screen_view", second, device="phone-2", i=1)])
    drain()
    assert close_live_sessions(second + TIMEOUT) == 1
    [old_start], [old_end] = session_rows(project.id, "session_start"), session_rows(project.id, "session_end")
    # An event of the same bucket after the end (its device was offline for a minute).
    send(client, [at("screen_view", later, device="phone-2", i=2)])
    drain()
    [late] = event_at(project.id, later)
    assert late["session_id"] != old_start["session_id"]
    starts = {row["session_id"]: row for row in session_rows(project.id, "session_start")}
    assert starts[old_start["session_id"]] == old_start  # the ended session keeps its rows
    assert starts[late["session_id"]]["ms"] == later - 100
    close_live_sessions(now_ms() + TIMEOUT)
    ends = {row["session_id"]: row for row in session_rows(project.id, "session_end")}
    assert ends[old_start["session_id"]] == old_end and late["session_id"] in ends


def test_a_buffered_event_of_an_ended_live_session_does_not_reopen_it(client_for, project, settings):
    settings.SESSION_TIMEOUT_SECONDS = 20  # so that an event a minute old is historical
    client = client_for(user_agent=IPHONE_UA)
    # Both in one bucket, the later one live: in a window's first minute, wait for its second.
    while now_ms() % WINDOW < MINUTE:
        time.sleep(1)
    buffered, live = same_bucket(2, 40_000, now_ms() - 2_000)
    send(client, [at("screen_view", live, device="phone-3", i=0)])
    drain()
    assert close_live_sessions(live + MINUTE) == 1
    [old_start] = session_rows(project.id, "session_start")
    send(client, [at("screen_view", buffered, device="phone-3", i=1)])  # older than the timeout
    drain()
    [late] = event_at(project.id, buffered)
    assert late["session_id"] != old_start["session_id"]
    starts = {row["session_id"]: row for row in session_rows(project.id, "session_start")}
    assert starts[old_start["session_id"]] == old_start
    assert starts[late["session_id"]]["ms"] == buffered - 100


def _ms(text: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _drain_in_child():
    drain()


def run_workers(count: int) -> None:
    run_at_once(_drain_in_child, count, timeout=120)


def _start_candidates(project_id: str, session_id: str):
    """A function that makes the start row a chunk offers for one historical session at `ms`."""
    from contract.rows import event_row
    from sessions_app import identity, starts

    ctx = {"project_id": project_id, "received_ms": now_ms(), "sdk_name": "", "sdk_version": "",
           "geo": {"country": "", "city": "", "region": "", "latitude": None, "longitude": None},
           "agent": {"os": "", "os_version": "", "browser": "", "browser_version": "", "device": "mobile",
                     "brand": "", "model": ""}}  # fmt: skip

    def start_at(ms: int) -> starts.Candidate:
        row = event_row(ctx, {"id": identity.session_row_id(project_id, session_id, "session_start"),
                              "name": "session_start", "ts": ms, "device_id": "d", "session_id": session_id,
                              "properties": {"at": str(ms)}})  # fmt: skip
        return starts.Candidate(row, live=False)

    return start_at


def test_a_worse_start_inserted_after_the_best_one_is_corrected_at_once(project):
    """Two workers: X claims a start, Y claims an earlier one; Y's insert lands first, X's last. The
    events table keeps the row inserted last, so X, seeing it no longer holds the start, inserts Y's."""
    from contract.tables import EVENTS
    from sessions_app import starts
    from storage.clickhouse import client as clickhouse

    start_at = _start_candidates(project.id, "s-race")
    t = now_ms() - 2 * DAY

    [x] = starts.claim([start_at(t)], "chunk-x")
    [y] = starts.claim([start_at(t - MINUTE)], "chunk-y")
    clickhouse.insert(EVENTS, [y.row])
    clickhouse.insert(EVENTS, [x.row])
    assert start_ms(project.id) == t  # wrong for a moment
    assert starts.confirm([y]) == 0
    assert starts.confirm([x]) == 1
    assert start_ms(project.id) == t - MINUTE
    assert starts.claim([start_at(t - MINUTE // 2)], "chunk-z") == []  # later than the best: never written


def test_a_start_improved_twice_while_a_worse_chunk_is_still_in_flight_ends_at_the_best(project):
    """Three workers: X claims a start; Z claims an earlier one and is written and done; Y claims an
    earlier one still, while X is still writing; X's insert lands last. X must put back Y's row, not
    the copy of Z's that Z's claim left (the flake of the parallel-workers test under load)."""
    from contract.tables import EVENTS
    from sessions_app import live, starts
    from storage.clickhouse import client as clickhouse

    start_at = _start_candidates(project.id, "s-race3")
    t = now_ms() - 2 * DAY

    def written(candidate: starts.Candidate, chunk_id: str) -> None:
        clickhouse.insert(EVENTS, [candidate.row])
        starts.confirm([candidate])
        live.forget_chunk(chunk_id)  # what confirm_starts does once a chunk is written

    [x] = starts.claim([start_at(t)], "chunk-x")
    [z] = starts.claim([start_at(t - MINUTE)], "chunk-z")
    written(z, "chunk-z")
    [y] = starts.claim([start_at(t - 2 * MINUTE)], "chunk-y")
    written(y, "chunk-y")
    written(x, "chunk-x")  # the worst start, inserted last
    assert start_ms(project.id) == t - 2 * MINUTE


def test_the_previous_release_s_start_locks_are_taken_over(api, client_for, project):
    """The release before kept `spool:session_start:...` as a string (SET NX); it may still be there
    for half an hour after an upgrade. Every script reads such a key as "no record"."""
    events = offline_session()
    send(api, events[4:8])
    drain()
    first = start_ms(project.id)
    client = redis.client()
    records = list(client.scan_iter(match="spool:session_start:*"))
    for key in records:
        client.delete(key)
        client.set(key, "chunk-of-the-release-before", px=1_800_000)
    send(api, events[8:])  # later: the start stays
    drain()
    assert start_ms(project.id) == first
    send(api, events[:4])  # earlier: it moves
    drain()
    assert close_historical_sessions(now_ms() + TIMEOUT + 1000) == 1
    check_one_session(project.id, _ms(events[0]["payload"]["properties"]["__timestamp"]))

    phone = client_for(user_agent=IPHONE_UA)
    send(phone, live_events(2, now_ms() - 5 * MINUTE))
    drain()
    for key in client.scan_iter(match="spool:session_start:*"):
        if key not in records:
            client.delete(key)
            client.set(key, "chunk-of-the-release-before", px=1_800_000)
    assert close_live_sessions(now_ms() + TIMEOUT) == 1
