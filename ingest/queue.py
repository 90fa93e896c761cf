"""Queues and enqueueing: every job Spool creates goes through here.

A batch of events becomes one RQ job per chunk of up to EVENTS_PER_JOB events.

Two FIFO buffers (Redis lists) take what does not come in chunks:
- `events`: single `/track` events. An RPUSH costs far less than an RQ enqueue; the drain job
  turns the buffer into chunk jobs.
- `profiles`: every profile and group change (identify, increment, ...), from singles and batches
  alike. The drain job applies them itself, in arrival order, whatever the number of workers, so
  that an identify and the increments after it are applied in the order they were sent.
The first push into an idle buffer enqueues its drain job; the periodic drain covers a drain job
that died.
"""
import logging
import uuid
from collections.abc import Callable

import django_rq
import orjson
from django.conf import settings
from redis.exceptions import RedisError
from rq import Retry
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from ingest import keys

logger = logging.getLogger(__name__)

EVENTS = "events"
SESSIONS = "sessions"
DEFAULT = "default"

JOB_TIMEOUT = 300
FAILED_JOB_TTL = 30 * 86_400
DRAIN_FLAG_SECONDS = 600
DRAIN_LOCK_MS = 60_000
DRAIN_ROUNDS = 8

PROCESS_EVENTS = "ingest.jobs.process_events"


class JobSerializer:
    """Job data as JSON, like rq's JSONSerializer (which the worker reads it with), but written with
    orjson: about 10x faster on a 500-event chunk. What orjson refuses (integers beyond 64 bits, which
    only the lenient body parser can produce) is written by the standard library instead."""

    @staticmethod
    def dumps(obj) -> bytes:
        try:
            return orjson.dumps(obj)
        except TypeError:
            return JSONSerializer.dumps(obj)

    loads = staticmethod(JSONSerializer.loads)


def queue(name: str = EVENTS):
    return django_rq.get_queue(name)


def _retry() -> Retry:
    # Retries wait for an outage to pass (ClickHouse restarting, a network blip).
    intervals = settings.JOB_RETRY_INTERVALS
    return Retry(max=len(intervals), interval=intervals)


def _job_options() -> dict:
    return {"timeout": JOB_TIMEOUT, "result_ttl": 0, "failure_ttl": FAILED_JOB_TTL, "retry": _retry()}


def chunk_payload(packets: list[dict]) -> dict:
    """A job's argument: request contexts with their events, and an id that survives retries."""
    return {"chunk_id": uuid.uuid4().hex, "packets": packets}


def enqueue_chunk(packets: list[dict], pipeline=None):
    events = sum(len(packet["events"]) for packet in packets)
    # An explicit description: RQ's default is the repr() of the whole chunk (then cut to 75 chars).
    return queue(EVENTS).enqueue_call(
        PROCESS_EVENTS, args=(chunk_payload(packets),), description=f"process_events({events} events)",
        pipeline=pipeline, **_job_options(),
    )  # fmt: skip


def enqueue_events(ctx: dict, events: list[dict]) -> int:
    """Queue events in chunks; return how many were durably queued before Redis failed (if it did)."""
    size = settings.EVENTS_PER_JOB
    queued = 0
    for start in range(0, len(events), size):
        chunk = events[start : start + size]
        try:
            enqueue_chunk([{"ctx": ctx, "events": chunk}])
        except RedisError:
            return queued
        queued += len(chunk)
    return queued


_CLEAR_FLAG_IF_EMPTY = """
if redis.call('LLEN', KEYS[1]) == 0 then redis.call('DEL', KEYS[2]) return 0 end
return redis.call('LLEN', KEYS[1])
"""


class Buffer:
    """A Redis list drained by one job at a time, in order."""

    def __init__(self, name: str, drain_job: str, batch: int):
        self.name, self.drain_job, self.batch = name, drain_job, batch
        self.key, self.flag, self.lock = keys.buffer(name), keys.buffer_flag(name), keys.buffer_lock(name)

    def push(self, pipe, packet: dict) -> None:
        """Queue an RPUSH of one packet on `pipe`, and the flag that says a drain job is due.

        The caller executes the pipeline and passes the flag's reply to `after_push`.
        """
        pipe.rpush(self.key, orjson.dumps(packet))
        pipe.set(self.flag, 1, nx=True, ex=DRAIN_FLAG_SECONDS)

    def after_push(self, flag_was_set: bool) -> None:
        """The first push into an idle buffer starts a drain job (later pushes find the flag set).

        The packet is already durable in the buffer; if this enqueue fails, the periodic drain
        moves it.
        """
        if flag_was_set:
            try:
                self.enqueue_drain()
            except RedisError:
                logger.warning("could not enqueue a drain of the %s buffer; the periodic one will", self.name)

    def enqueue_drain(self):
        return queue(EVENTS).enqueue_call(self.drain_job, **_job_options())

    def drain(self, handle: Callable[[list[dict], int, object], None]) -> int:
        """Hand the oldest packets to `handle(packets, first_sequence, pipe)`, then trim them.

        `pipe` is a MULTI pipeline that trims the packets when executed: whatever `handle` queues on
        it happens atomically with the trim. One drainer at a time (a lock): reading the head of
        the list and trimming it must not interleave with another drainer, or packets would be
        handled twice or lost. A drainer that finds the lock taken leaves the work to its holder.
        Returns the number of packets handled.
        """
        redis = keys.redis()
        handled = 0
        with keys.lock(self.lock, DRAIN_LOCK_MS) as won:
            if not won:
                return 0
            for _ in range(DRAIN_ROUNDS):
                raw = redis.lrange(self.key, 0, self.batch - 1)
                if not raw:
                    break
                first = int(redis.get(keys.buffer_trimmed(self.name)) or 0) + 1
                with redis.pipeline(transaction=True) as pipe:
                    handle([orjson.loads(item) for item in raw], first, pipe)
                    pipe.ltrim(self.key, len(raw), -1)
                    pipe.incrby(keys.buffer_trimmed(self.name), len(raw))
                    pipe.execute()
                handled += len(raw)
        # Clear the flag only when the buffer is empty, atomically, so that the next push re-arms it.
        remaining = keys.script(_CLEAR_FLAG_IF_EMPTY)(keys=[self.key, self.flag])
        if remaining:
            self.enqueue_drain()
        return handled


EVENT_BUFFER = Buffer("events", "ingest.jobs.drain_events", batch=500)
PROFILE_BUFFER = Buffer("profiles", "ingest.jobs.drain_profile_changes", batch=500)
# Filled by ingest/rejections.py's recording script; drained by the periodic job.
REJECTED_BUFFER = Buffer("rejected", "ingest.jobs.store_rejected_samples", batch=500)


def drain_events() -> int:
    """Move buffered single events into chunk jobs (enqueued atomically with the trim)."""
    return EVENT_BUFFER.drain(lambda packets, first, pipe: enqueue_chunk(packets, pipeline=pipe))


def push_to_buffers(ctx: dict, events: list[dict], changes: list[dict]) -> None:
    """Append events and profile changes of one request to their buffers in one round trip.

    Raises RedisError when Redis refuses: then nothing of this call is acknowledged.
    """
    used = []
    with keys.redis().pipeline(transaction=True) as pipe:
        if events:
            EVENT_BUFFER.push(pipe, {"ctx": ctx, "events": events})
            used.append(EVENT_BUFFER)
        if changes:
            PROFILE_BUFFER.push(pipe, {"ctx": ctx, "changes": changes})
            used.append(PROFILE_BUFFER)
        replies = pipe.execute()
    for position, buffer in enumerate(used):
        buffer.after_push(flag_was_set=bool(replies[2 * position + 1]))


# --- failed jobs (an operator's view: `manage.py failed_jobs`) --------------------------------------
def _failed_registries():
    return [queue(name).failed_job_registry for name in (EVENTS, SESSIONS, DEFAULT)]


def failed_jobs() -> list:
    """Jobs that used up their retries and wait in a failed registry, queue by queue, oldest first."""
    jobs = []
    for registry in _failed_registries():
        found = Job.fetch_many(registry.get_job_ids(), connection=registry.connection, serializer=registry.serializer)
        jobs += [job for job in found if job]
    return jobs


def events_in(job) -> int:
    """How many events a process_events job carries (0 for other jobs)."""
    if job.func_name != PROCESS_EVENTS or not job.args:
        return 0
    return sum(len(packet.get("events", ())) for packet in job.args[0].get("packets", ()))


def requeue_failed() -> int:
    """Put every failed job back on its queue with a fresh set of retries. Returns how many.

    Re-running a chunk writes each row once (ids are fixed in the job; spec §6.3).
    """
    count = 0
    for registry in _failed_registries():
        for job_id in registry.get_job_ids():
            try:
                job = Job.fetch(job_id, connection=registry.connection, serializer=registry.serializer)
            except NoSuchJobError:
                continue
            retry = _retry()
            job.retries_left, job.retry_intervals = retry.max, retry.intervals
            try:
                registry.requeue(job)
            except InvalidJobOperation:
                continue  # another operator requeued it first
            count += 1
    return count
