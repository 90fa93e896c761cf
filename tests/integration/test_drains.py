"""Issue 9, finding 2, contract §7 (r2): a drain removes only what it processed, even when it runs
longer than its 60 s lock (a slow ClickHouse is enough) and another drainer took over meanwhile.

The first drainer's handler is where the time passes: while it holds its packets, its lock expires
(the key is gone, as after 60 s), a second drainer runs to the end, and new packets arrive."""
import time

import pytest

from ingest.profiles.apply import apply_packets
from ingest.worker import jobs
from storage.queue import buffers, queues
from storage.redis import client as redis
from storage.redis import keys
from tests.support import stored
from tests.support.events import track
from tests.support.worker import drain

pytestmark = pytest.mark.django_db


def change(client, kind: str, profile_id: str, **payload):
    body = {"type": kind, "payload": {"profileId": profile_id, **payload}}
    assert client.post("/track", body, format="json").status_code == 200


def test_a_profile_drain_that_outlived_its_lock_trims_nothing_it_did_not_apply(api, project):
    change(api, "identify", "slow", properties={"n": 0})
    drain()
    for _ in range(3):
        change(api, "increment", "slow", property="n")
    calls = []

    def slow_apply(items, pipe):
        if not calls:
            redis.client().delete(buffers.PROFILE_BUFFER.lock)  # 60 s went by: the lock expired
            jobs.drain_profile_changes()  # another worker's drain takes the same three and applies them
            for _ in range(4):
                change(api, "increment", "slow", property="n")  # and more arrive behind them
        calls.append(len(items))
        apply_packets(items, now_ms=int(time.time() * 1000))

    buffers.PROFILE_BUFFER.drain(slow_apply)
    drain()
    assert stored.profile(project.id, "slow")["properties"]["n"] == "7"
    assert redis.client().llen(buffers.PROFILE_BUFFER.key) == 0


def test_an_event_drain_that_outlived_its_lock_loses_no_event_and_queues_none_twice(api, project):
    for i in range(3):
        assert api.post("/track", track("first", i=i), format="json").status_code == 200
    calls = []

    def slow_enqueue(items, pipe):
        if not calls:
            redis.client().delete(buffers.EVENT_BUFFER.lock)
            jobs.drain_events()
            for i in range(4):
                assert api.post("/track", track("second", i=i), format="json").status_code == 200
        calls.append(len(items))
        queues.enqueue_chunk([packet for _, packet in items], pipeline=pipe)

    buffers.EVENT_BUFFER.drain(slow_enqueue)
    drain()
    assert stored.count(project.id, "name = 'first'") == 3
    assert stored.count(project.id, "name = 'second'") == 4
    assert stored.count(project.id, "name IN ('first', 'second')", final=False) == 7  # no job queued twice


def test_sequence_numbers_stay_in_step_with_the_buffer(api, project):
    """Every packet keeps the number it had when it was read, whoever drains it."""
    for _ in range(5):
        change(api, "identify", "seq")
    drain()
    assert int(redis.client().get(keys.buffer_trimmed("profiles"))) == 5
