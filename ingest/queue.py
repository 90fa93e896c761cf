"""Queues and enqueueing: every job Spool creates goes through here.

A batch becomes one job per chunk of up to EVENTS_PER_JOB events. A single `/track` event is
appended to a Redis list instead (an RPUSH costs far less than an RQ enqueue); the first push
into an empty buffer enqueues one `flush_buffer` job, which turns the buffer into chunk jobs.
"""
import logging
import uuid

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
FLUSH_FLAG_SECONDS = 600
FLUSH_LOCK_MS = 60_000
BUFFER_CHUNKS_PER_FLUSH = 8

PROCESS_EVENTS = "ingest.jobs.process_events"
FLUSH_BUFFER = "ingest.jobs.flush_buffer"


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


def push_single(ctx: dict, event: dict, pipe) -> None:
    """Append one event to the buffer on `pipe` (executed by the caller with its other commands)."""
    pipe.rpush(keys.BUFFER, orjson.dumps({"ctx": ctx, "events": [event]}))
    pipe.set(keys.BUFFER_FLAG, 1, nx=True, ex=FLUSH_FLAG_SECONDS)


def after_push(flag_was_set: bool) -> None:
    """The first push into an idle buffer starts a flush job (later pushes find the flag set).

    The event is already durable in the buffer; if this enqueue fails, the periodic flush moves it.
    """
    if flag_was_set:
        try:
            enqueue_flush()
        except RedisError:
            logger.warning("could not enqueue a buffer flush; the periodic flush will move the events")


def enqueue_flush():
    return queue(EVENTS).enqueue_call(FLUSH_BUFFER, **_job_options())


def flush_buffer() -> int:
    """Move buffered single events into chunk jobs. Returns the number of events moved.

    One flusher at a time (a lock): reading the head of the list and trimming it must not
    interleave with another flusher, or events would be queued twice or lost. A flusher that
    finds the lock taken leaves the work to its holder; the periodic flush covers a holder that died.
    """
    redis = keys.redis()
    token = uuid.uuid4().hex
    if not redis.set(keys.BUFFER_LOCK, token, nx=True, px=FLUSH_LOCK_MS):
        return 0
    moved = 0
    try:
        for _ in range(BUFFER_CHUNKS_PER_FLUSH):
            raw = redis.lrange(keys.BUFFER, 0, settings.EVENTS_PER_JOB - 1)
            if not raw:
                break
            packets = [orjson.loads(item) for item in raw]
            with redis.pipeline(transaction=True) as pipe:
                enqueue_chunk(packets, pipeline=pipe)
                pipe.ltrim(keys.BUFFER, len(raw), -1)
                pipe.execute()
            moved += len(raw)
    finally:
        if redis.get(keys.BUFFER_LOCK) == token.encode():
            redis.delete(keys.BUFFER_LOCK)
    # Clear the flag only when the buffer is empty, atomically, so that the next push re-arms it.
    remaining = redis.eval(
        "if redis.call('LLEN', KEYS[1]) == 0 then redis.call('DEL', KEYS[2]) return 0 end "
        "return redis.call('LLEN', KEYS[1])",
        2,
        keys.BUFFER,
        keys.BUFFER_FLAG,
    )
    if remaining:
        enqueue_flush()
    return moved


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
