"""Big blocks (issue 13): a chunk job writes the chunk jobs waiting behind it in one insert, and a
failure leaves none of them lost or half-done."""
import uuid
from io import StringIO

import django_rq
from django.core.management import call_command
from rq.job import Job
from rq.registry import FailedJobRegistry

from contract import messages
from contract.tables import EVENTS
from ingest.worker import registry
from ingest.worker.write import process_chunk
from storage.queue import blocks, poison, queues
from storage.redis import client as redis
from storage.redis import counters, keys
from tests.support import stored
from tests.support.events import now_ms
from tests.support.worker import drain

CTX = {"project_id": "", "backfill_days": 5, "received_ms": 0, "ip": "", "sdk_name": "", "sdk_version": "",
       "geo": {"country": "", "city": "", "region": "", "latitude": None, "longitude": None},
       "agent": {"os": "", "os_version": "", "browser": "", "browser_version": "", "device": "server",
                 "brand": "", "model": ""}}  # fmt: skip


def _packet(project_id: str, name: str, count: int = 3) -> messages.EventPacket:
    ctx = {**CTX, "project_id": project_id, "received_ms": now_ms()}
    events = [{"type": "track", "name": name, "ts": now_ms() - n, "properties": {"n": str(n)}, "id": str(uuid.uuid4()),
               "device_id": "d", "session_id": "s"} for n in range(count)]  # fmt: skip
    return messages.event_packet(ctx, events)  # type: ignore[arg-type]


def _inserts() -> int:
    return counters.insert_stats().get(EVENTS.name, {}).get("inserts", 0)


def _queued() -> list[str]:
    return [job_id.decode() for job_id in redis.client().lrange(queues.queue().key, 0, -1)]


def test_waiting_chunks_are_written_in_one_insert(project):
    jobs = [queues.enqueue_chunk([_packet(project.id, f"block-{n}")]) for n in range(4)]
    before = _inserts()
    drain()
    assert _inserts() - before == 1
    for n in range(4):
        assert stored.count(project.id, f"name = 'block-{n}'") == 3
    assert not any(Job.exists(job.id, connection=redis.client()) for job in jobs)
    assert not redis.client().keys(keys.companions("*"))


def test_a_chunk_that_cannot_be_read_is_set_aside_alone(project):
    queues.enqueue_chunk([_packet(project.id, "before")])
    bad = {"v": 1, "chunk_id": "bad", "packets": 5}
    queues.queue().enqueue_call(registry.PROCESS_EVENTS, args=(bad,), description="process_events(1 events)")
    queues.enqueue_chunk([_packet(project.id, "after")])
    drain()
    assert stored.count(project.id, "name = 'before'") == stored.count(project.id, "name = 'after'") == 3
    [entry] = poison.listed("chunks")
    assert "packets" in entry["error"]


def test_a_failed_block_gives_its_chunks_back_and_a_rerun_writes_them_once(project, settings):
    owner, *rest = [queues.enqueue_chunk([_packet(project.id, f"again-{n}")]) for n in range(3)]
    redis.client().lpop(queues.queue().key)  # the owner, as RQ takes it off the queue
    good_url = settings.CLICKHOUSE_URL
    settings.CLICKHOUSE_URL = "clickhouse://default:@127.0.0.1:1/nowhere"  # ClickHouse away
    try:
        process_chunk(owner.args[0], now_ms(), job=owner)
        raise AssertionError("the insert cannot have succeeded")
    except Exception as error:
        assert poison.retriable(error)
    # Back at the head of the queue, in their order, and no longer held by the owner.
    assert _queued() == [job.id for job in rest]
    assert redis.client().llen(keys.companions(owner.id)) == 0
    # A worker that died after taking them (perhaps killed by that block): the re-run of the owner
    # finds them held, gives them back marked to run alone, and writes its own chunk only.
    settings.CLICKHOUSE_URL = good_url
    assert blocks.take_companions(owner, 20_000, 2**30).ids == [job.id for job in rest]
    assert _queued() == []
    result = process_chunk(owner.args[0], now_ms(), job=owner)
    assert result["chunks"] == 1
    assert _queued() == [job.id for job in rest]
    assert not redis.client().exists(keys.companions(owner.id))
    before = _inserts()
    drain()  # each alone: one insert per chunk, none taken into another's block
    assert _inserts() - before == 2
    for n in range(3):
        assert stored.count(project.id, f"name = 'again-{n}'") == 3
    assert not django_rq.get_queue(queues.EVENTS).count


def test_a_block_is_bounded_by_the_bytes_of_its_chunks(project, settings):
    jobs = [queues.enqueue_chunk([_packet(project.id, f"bytes-{n}", count=20)]) for n in range(4)]
    # Each chunk's data as serialized, which its job hash keeps beside the compressed data (what a block counts).
    sizes = [int(redis.client().hget(job.key, "spool_bytes")) for job in jobs]
    # Room for the owner's chunk and one more: two blocks of two for the four chunks.
    settings.WORKER_BLOCK_BYTES = max(sizes) * 2 + max(sizes) // 2
    before = _inserts()
    drain()
    assert _inserts() - before == 2
    for n in range(4):
        assert stored.count(project.id, f"name = 'bytes-{n}'") == 20
    settings.WORKER_BLOCK_BYTES = 0  # no block at all: each chunk alone
    for n in range(3):
        queues.enqueue_chunk([_packet(project.id, f"alone-{n}")])
    before = _inserts()
    drain()
    assert _inserts() - before == 3


def test_failed_jobs_counts_the_chunks_a_failed_owner_holds(project):
    owner, *rest = [queues.enqueue_chunk([_packet(project.id, f"held-{n}")]) for n in range(3)]
    # The owner taken by a worker, which took the other two into its block (storage/queue/blocks.py)...
    client = redis.client()
    client.lpop(queues.queue().key)
    for job in rest:
        client.lrem(queues.queue().key, 1, job.id)
        client.rpush(keys.companions(owner.id), job.id)
    # ...and died; the owner then used up its retries
    FailedJobRegistry(queue=queues.queue()).add(owner, exc_string="abandoned")
    listing = StringIO()
    call_command("failed_jobs", stdout=listing)
    assert f"{owner.id}  events  {registry.PROCESS_EVENTS}  events=9" in listing.getvalue()
    assert "1 failed jobs, 9 events" in listing.getvalue()
    call_command("failed_jobs", "--requeue", stdout=StringIO())
    drain()  # the owner runs again, gives its block back to run alone
    for n in range(3):
        assert stored.count(project.id, f"name = 'held-{n}'") == 3
    assert queues.failed_jobs() == []
