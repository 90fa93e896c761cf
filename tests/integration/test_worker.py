"""The worker process (ingest/worker/spool_worker.py) around RQ: jobs of a worker that died, jobs queued
by the previous release."""
import signal
import zlib

import django_rq
import orjson
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from contract import messages
from ingest.worker import registry
from storage.queue import buffers, queues
from storage.redis import client as redis
from tests.support import stored
from tests.support.events import now_ms
from tests.support.worker import drain

CTX = {"project_id": "", "backfill_days": 5, "received_ms": 0, "ip": "", "sdk_name": "", "sdk_version": "",
       "geo": {"country": "", "city": "", "region": "", "latitude": None, "longitude": None},
       "agent": {"os": "", "os_version": "", "browser": "", "browser_version": "", "device": "server",
                 "brand": "", "model": ""}}  # fmt: skip


def _chunk(project_id: str, name: str) -> dict:
    ctx = {**CTX, "project_id": project_id, "received_ms": now_ms()}
    event = {"type": "track", "name": name, "ts": now_ms(), "properties": {}, "id": "5d0f6f36-0000-4000-8000-000000000001",
             "device_id": "d", "session_id": "s"}  # fmt: skip
    return messages.chunk([messages.event_packet(ctx, [event])])


def _settled(job_id: str) -> None:
    queue = django_rq.get_queue(queues.EVENTS)
    assert job_id not in FailedJobRegistry(queue=queue).get_job_ids()
    assert job_id not in ScheduledJobRegistry(queue=queue).get_job_ids()  # not waiting for a retry


def test_a_job_whose_last_worker_died_runs_to_its_end(project):
    """RQ lists an execution in its job's registry 60 s longer than the execution itself lives: a job
    re-run in that minute after its worker was killed failed its clean-up ("Execution ... not found in
    Redis") on every retry, for hours, although its rows were written."""
    job = queues.enqueue_chunk(_chunk(project.id, "rerun")["packets"])
    connection = job.connection
    # What a killed worker leaves behind: its execution listed for the job, the execution itself expired.
    connection.zadd(job.execution_registry.key, {"deadbeef": 9_999_999_999})
    drain()
    _settled(job.id)
    assert stored.count(project.id, "name = 'rerun'") == 1


def test_a_job_queued_under_its_old_name_runs(project):
    queue = django_rq.get_queue(queues.EVENTS)
    old = next(name for name, new in registry.RENAMED.items() if new == registry.PROCESS_EVENTS)
    job = queue.enqueue_call(old, args=(_chunk(project.id, "renamed"),), result_ttl=0)
    drain()
    _settled(job.id)
    assert Job.exists(job.id, connection=queue.connection) is False  # done, and its result not kept
    assert stored.count(project.id, "name = 'renamed'") == 1


def test_messages_queued_in_format_1_are_still_processed(project):
    """A rolling deploy: a chunk job and a single event written by the release before (format 1, the
    packet as plain JSON) wait in Redis when this release's worker starts."""
    old = _chunk(project.id, "old-chunk")
    old["v"] = old["packets"][0]["v"] = 1
    job = queues.enqueue_chunk(old["packets"])
    job.args = (old,)
    job.save()
    single = _chunk(project.id, "old-single")["packets"][0]
    single["v"] = 1
    single["events"][0]["id"] = "5d0f6f36-0000-4000-8000-000000000002"
    redis.client().rpush(buffers.EVENT_BUFFER.key, orjson.dumps(single))
    buffers.EVENT_BUFFER.enqueue_drain()
    drain()
    _settled(job.id)
    assert stored.count(project.id, "name = 'old-chunk'") == 1
    assert stored.count(project.id, "name = 'old-single'") == 1


def test_chunk_jobs_are_deflated_at_a_faster_level_and_still_read(project):
    """Issue 13: the API deflates a chunk job's data at queues.DATA_LEVEL, not RQ's 6 (which cost the
    API ~2.8 µs an event). RQ reads any level; the big-block logic still reads the description."""
    chunk = _chunk(project.id, "deflated")
    job = queues.enqueue_chunk(chunk["packets"])
    data = redis.client().hget(Job.key_for(job.id), "data")
    assert data[:2] == b"\x78\x5e"  # zlib's header of levels 2-5 (RQ's level 6 writes 78 9c)
    assert orjson.loads(zlib.decompress(data))[0] == registry.PROCESS_EVENTS
    fetched = Job.fetch(job.id, connection=redis.client(), serializer=queues.JobSerializer)
    assert fetched.args[0]["packets"] == chunk["packets"]
    assert redis.client().hget(Job.key_for(job.id), "description") == b"process_events(1 events)"
    drain()
    _settled(job.id)
    assert stored.count(project.id, "name = 'deflated'") == 1


def test_a_drain_in_the_test_process_leaves_its_signal_handlers_as_they_were(project):
    """RQ's worker installs SIGTERM/SIGINT handlers; kept after an in-process drain, every process the
    suite forks later inherits them and ignores terminate() (a forked pool hung CI for 90 minutes)."""
    before = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    drain()
    assert {number: signal.getsignal(number) for number in before} == before
