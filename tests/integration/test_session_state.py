"""Contract §7 r3, bounded state: what a live session keeps in Redis is at most 1 KiB whatever its
events hold, an ended session leaves a marker of a few dozen bytes, and no key outlives what it is
needed for. Measured with MEMORY USAGE on the real Redis, as bench/b8.py does on the whole stack."""
import pytest
from rest_framework.test import APIClient

from ingest.worker.write import process_chunk
from projects.services import create_project
from sessions_app import bounds, identity, rules
from sessions_app.ends import close_live_sessions
from storage.queue import poison, queues
from storage.redis import client as redis
from storage.redis import keys
from tests.support import stored
from tests.support.agents import IPHONE_UA
from tests.support.events import iso, now_ms
from tests.support.worker import drain

pytestmark = pytest.mark.django_db
MINUTE = 60_000
TIMEOUT = 30 * MINUTE
DAY = 86_400_000
DEVICES = 40
LIVE_BOUND, ENDED_BOUND = 1024, 100
FAT = 30_000


def _key_bytes() -> int:
    """Every key but RQ's own, exactly (SAMPLES 0)."""
    client = redis.client()
    return sum(client.memory_usage(key, samples=0) or 0 for key in client.scan_iter(count=1000) if not key.startswith(b"rq:"))


def _event(n: int, ms: int, variant: str) -> dict:
    properties = {"__timestamp": iso(ms), "__deviceId": f"state-{n}", "__path": "https://shop.example.com/products/42",
                  "__referrer": "https://www.google.com/"}  # fmt: skip
    payload: dict = {"name": "screen_view", "properties": properties}
    if n % 3 == 0:
        payload["profileId"] = f"user-{n}"
    if variant == "fat":
        properties["__path"] = "https://shop.example.com/" + "p" * (FAT - 25)
        properties["__referrer"] = "https://ref.example.net/" + "r" * (FAT - 24)
    if variant == "everything long":
        properties["__path"] = "https://shop.example.com/" + "p" * 2_000
        properties["__referrer"] = "https://ref.example.net/" + "r" * 2_000
        properties["__deviceId"] = f"state-{n}-".ljust(64, "d")
        payload["profileId"] = f"user-{n}-".ljust(256, "u")
        for key in ("__os", "__osVersion", "__browser", "__browserVersion", "__brand", "__model"):
            properties[key] = key.ljust(128, "x")
    return {"type": "track", "payload": payload}


def _visits(t0: int, variant: str) -> list[dict]:
    """One screen view per device; twelve (more than a session remembers the ids of) for the longest."""
    views = 12 if variant == "everything long" else 1
    return [_event(n, t0 + i * 1_000, variant) for n in range(DEVICES) for i in range(views)]


def _send(client, events: list[dict]) -> None:
    response = client.post("/track/batch", {"events": events}, format="json")
    assert response.status_code == 202 and response.json()["rejected"] == [], response.content
    drain()


@pytest.fixture
def sender(client_for, project):
    """A phone's client, once a server sender's event (no session) created the project's counters:
    what is measured next is session state. Redis holds other sessions, as it would in production:
    the deadlines of 200 (other projects' sessions: a skip list, not a small listpack) and 600 ended
    sessions of the project on the days at hand (a hash table)."""
    _send(client_for(user_agent="python-requests/2.32"), [{"type": "track", "payload": {"name": "warm-up"}}])
    client = redis.client()
    client.zadd(keys.LIVE_ENDS, {f"other-project|session-{n}": now_ms() + 10 * DAY + n for n in range(200)})
    for day in {(now_ms() - back) // DAY for back in (0, MINUTE, TIMEOUT, DAY)}:
        client.hset(keys.ended_sessions(project.id, day), mapping={f"ended-{n}".ljust(22, "x"): now_ms() for n in range(600)})
    return client_for(user_agent=IPHONE_UA)


@pytest.mark.parametrize("variant", ["plain", "fat", "everything long"])
def test_a_live_session_keeps_at_most_1_KiB_and_an_ended_one_a_few_dozen_bytes(sender, client_for, project, variant):
    if variant == "everything long":
        sender = client_for(user_agent=IPHONE_UA, HTTP_OPENPANEL_SDK_NAME="s" * 64, HTTP_OPENPANEL_SDK_VERSION="v" * 64)
    before = _key_bytes()
    t0 = now_ms() - 2 * MINUTE
    _send(sender, _visits(t0, variant))
    live = (_key_bytes() - before) / DEVICES
    assert live <= LIVE_BOUND, f"{live:.0f} bytes per live session"
    assert close_live_sessions(now_ms() + TIMEOUT) == DEVICES
    ended = (_key_bytes() - before) / DEVICES
    assert ended <= ENDED_BOUND, f"{ended:.0f} bytes per ended session"
    # What Redis holds is cut; the stored event rows keep everything whole.
    rows = stored.events(project.id, "name = 'screen_view'")
    assert len(rows) == len(_visits(t0, variant))
    if variant == "fat":
        assert all(len(row["referrer"]) == FAT for row in rows)
    ends = stored.events(project.id, "name = 'session_end'")
    assert {end["device_id"] for end in ends} == {row["device_id"] for row in rows}
    assert {end["profile_id"] for end in ends} == {row["profile_id"] for row in rows}
    views = 12 if variant == "everything long" else 1
    assert {end["properties"]["__screen_views"] for end in ends} == {str(views)}


def _ttls(prefixes: tuple[bytes, ...]) -> dict[bytes, int]:
    client = redis.client()
    return {key: client.pttl(key) for key in client.scan_iter(count=1000) if key.startswith(prefixes)}


SESSION_KEYS = (b"spool:live:", b"spool:session", b"spool:live_profile:")


def test_the_state_of_a_live_device_lives_no_longer_than_the_timeout_plus_the_backfill_window(sender, project):
    project.backfill_days = 2
    project.save()
    _send(sender, [_event(n, now_ms() - MINUTE, "plain") for n in range(3)])
    ttls = _ttls(SESSION_KEYS)
    assert ttls and all(0 < ttl <= TIMEOUT + 2 * DAY for ttl in ttls.values()), ttls


def test_an_ended_session_s_marker_lasts_while_an_event_of_its_bucket_can_arrive(sender, project):
    """Never reopened (contract §7 r2): a buffered event of the bucket can arrive until the end of
    the backfill window after the bucket; the marker lasts that long, and not much longer."""
    t0 = now_ms() - MINUTE
    before = set(redis.client().scan_iter(count=1000))
    _send(sender, [_event(0, t0, "plain")])
    close_live_sessions(t0 + TIMEOUT)
    assert not _ttls(SESSION_KEYS)
    assert not {key for key in redis.client().scan_iter(count=1000) if not key.startswith(b"rq:")} - before
    day = bounds.day_of(identity.bucket_of(t0, rules.window_ms()), rules.window_ms())
    marker = keys.ended_sessions(project.id, day)
    assert redis.client().hexists(marker, identity.session_id_for(project.id, "state-0", identity.bucket_of(t0, rules.window_ms())))
    needed = t0 + 5 * DAY - now_ms()  # the project's backfill window (5 days) after the event
    assert needed <= redis.client().pttl(marker) <= needed + DAY


def test_a_cut_exit_path_in_the_session_end_and_the_whole_path_in_the_event_row(sender, project):
    t0 = now_ms() - MINUTE
    [event] = [_event(1, t0, "fat")]
    _send(sender, [event])
    close_live_sessions(t0 + TIMEOUT)
    [row] = stored.events(project.id, "name = 'screen_view'")
    [end] = stored.events(project.id, "name = 'session_end'")
    assert len(row["path"]) == FAT - 25 + 1
    assert end["path"].endswith("…") and row["path"].startswith(end["path"][:-1])
    assert len(end["path"].encode()) <= 64
    assert end["referrer"] == row["referrer"]  # the context comes whole from the session's start row


def _queued_chunk(client, events: list[dict]) -> dict:
    """The chunk job's payload the API queued for `events`, taken off its queue (a worker took it)."""
    response = client.post("/track/batch", {"events": events}, format="json")
    assert response.json()["accepted"] == len(events)
    [job] = queues.queue().get_jobs()
    queues.queue().empty()
    return job.args[0]


def test_a_job_killed_after_its_insert_and_run_again_after_the_end_keeps_its_events_in_that_session(
    client_for, project
):
    """A worker killed between its insert and its bookkeeping; the job runs again (within minutes)
    after the session it had merged into has ended: the session keeps its events, start and end."""
    from ingest.worker import write

    client = client_for(user_agent=IPHONE_UA)
    t0 = now_ms() - 2 * MINUTE
    payload = _queued_chunk(client, [_event(5, t0, "plain"), _event(5, t0 + MINUTE, "plain")])
    block = write._Block(now_ms())
    block.add(payload)
    write._insert([*block.chunks[0].rows, *block.chunks[0].settled.starts], block.chunks[0].tracks, [])  # then killed
    assert close_live_sessions(t0 + MINUTE + TIMEOUT) == 1
    [start] = stored.events(project.id, "name = 'session_start'")
    process_chunk(payload, now_ms())  # the job again
    assert close_live_sessions(now_ms() + 2 * TIMEOUT) == 0
    rows = stored.events(project.id, "name = 'screen_view'")
    assert {row["session_id"] for row in rows} == {start["session_id"]}
    [again] = stored.events(project.id, "name = 'session_start'")
    [end] = stored.events(project.id, "name = 'session_end'")
    assert again == start and end["properties"]["__screen_views"] == "2"


def test_a_session_whose_chunk_waits_for_its_retry_ends_once_the_chunk_is_written(client_for, project, settings):
    """ClickHouse was away when the chunk ran; the sweep after it came back runs before the job's
    retry: the session's end waits for its start row, so that it has its context."""
    client = client_for(user_agent=IPHONE_UA)
    t0 = now_ms() - 2 * MINUTE
    payload = _queued_chunk(client, [_event(6, t0, "plain"), _event(6, t0 + MINUTE, "plain")])
    good = settings.CLICKHOUSE_URL
    settings.CLICKHOUSE_URL = "clickhouse://default:@127.0.0.1:1/nowhere"
    with pytest.raises(Exception) as failed:
        process_chunk(payload, now_ms())
    assert poison.retriable(failed.value)
    settings.CLICKHOUSE_URL = good
    assert close_live_sessions(t0 + MINUTE + TIMEOUT) == 0  # its start row is not stored yet
    process_chunk(payload, now_ms())  # the retry
    assert close_live_sessions(now_ms() + TIMEOUT) == 1
    [start] = stored.events(project.id, "name = 'session_start'")
    [end] = stored.events(project.id, "name = 'session_end'")
    assert end["session_id"] == start["session_id"] and start["ms"] == t0 - 100
    assert (end["referrer_name"], end["os"], end["properties"]["__screen_views"]) == ("Google", "iOS", "2")


def test_chunks_retried_after_their_session_ended_write_its_earliest_start_only(client_for, project, settings):
    """Two chunks of one session failed (ClickHouse away), the later part first; the session ended
    (the sweep waited for their start rows as long as their retries could come, then gave up); then
    their retries come: the ended marker keeps the best start, so only the earliest is written."""
    client = client_for(user_agent=IPHONE_UA)
    t0 = now_ms() - 5 * MINUTE
    later = _queued_chunk(client, [_event(7, t0 + MINUTE, "plain")])
    earlier = _queued_chunk(client, [_event(7, t0, "plain")])
    # A worker that ran before the outage knows the days of cross-day copies (ingest/worker/copies.py):
    # the chunks fail at their insert, after their sessions were settled, not at that lookup.
    _send(client_for(user_agent="python-requests/2.32.3"), [{"type": "track", "payload": {"name": "warm-up"}}])
    good = settings.CLICKHOUSE_URL
    settings.CLICKHOUSE_URL = "clickhouse://default:@127.0.0.1:1/nowhere"
    for payload in (later, earlier):
        with pytest.raises(Exception) as failed:
            process_chunk(payload, now_ms())
        assert poison.retriable(failed.value)
    settings.CLICKHOUSE_URL = good
    assert close_live_sessions(now_ms() + TIMEOUT) == 0  # waits for its start row
    assert close_live_sessions(now_ms() + TIMEOUT + 5 * 3_600_000) == 1  # past every retry
    for payload in (earlier, later):  # the later part's retry last: its start must not win
        process_chunk(payload, now_ms())
    [start] = stored.events(project.id, "name = 'session_start'")
    [end] = stored.events(project.id, "name = 'session_end'")
    assert start["ms"] == t0 - 100 and start["session_id"] == end["session_id"]
    rows = stored.events(project.id, "name = 'screen_view'")
    assert {row["session_id"] for row in rows} == {start["session_id"]} and len(rows) == 2


def test_an_offline_session_sent_last_part_first_leaves_no_copy_of_its_rows(api, project):
    """A start that moves earlier kept a copy of its row (up to 64 KiB) for ten minutes, for a chunk
    still being written that might insert a worse start after it. With no such chunk, no copy."""
    start = (now_ms() - 2 * DAY) // (30 * MINUTE) * (30 * MINUTE) + MINUTE
    parts = [[_event(8, start + (3 * part + i) * 60_000, "fat") for i in range(3)] for part in range(3)]
    for part in reversed(parts):
        _send(api, part)
    assert not list(redis.client().scan_iter(match="spool:session_start_row:*"))
    [row] = stored.events(project.id, "name = 'session_start'")
    assert row["ms"] == start - 100


def test_one_sweep_ends_the_sessions_of_many_projects_each_with_its_own_context(client_for, project):
    """The sweep reads the start rows of a whole batch in one query, whatever its projects."""
    other, secret = create_project(f"Other app {project.id}")
    other_client = APIClient()
    other_client.credentials(HTTP_OPENPANEL_CLIENT_ID=str(other.client_id), HTTP_OPENPANEL_CLIENT_SECRET=secret,
                             HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")  # fmt: skip
    t0 = now_ms() - MINUTE
    _send(client_for(user_agent=IPHONE_UA), [_event(9, t0, "plain")])
    _send(other_client, [_event(9, t0, "plain")])
    assert close_live_sessions(t0 + TIMEOUT) == 2
    [mine] = stored.events(project.id, "name = 'session_end'")
    [theirs] = stored.events(other.id, "name = 'session_end'")
    assert (mine["os"], theirs["os"]) == ("iOS", "Linux")
    assert mine["referrer_name"] == theirs["referrer_name"] == "Google"
    assert mine["device_id"] == theirs["device_id"] == "state-9"
