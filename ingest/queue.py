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

from ingest import keys

logger = logging.getLogger(__name__)

EVENTS = "events"
SESSIONS = "sessions"
DEFAULT = "default"

JOB_TIMEOUT = 300
FAILED_JOB_TTL = 30 * 86_400
# Retries wait for an outage to pass (ClickHouse restarting, a network blip): about 4 hours in all.
RETRY_INTERVALS = [5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200]
FLUSH_FLAG_SECONDS = 600
FLUSH_LOCK_MS = 60_000
BUFFER_CHUNKS_PER_FLUSH = 8

PROCESS_EVENTS = "ingest.jobs.process_events"
FLUSH_BUFFER = "ingest.jobs.flush_buffer"


def queue(name: str = EVENTS):
    return django_rq.get_queue(name)


def _job_options() -> dict:
    return {
        "timeout": JOB_TIMEOUT,
        "result_ttl": 0,
        "failure_ttl": FAILED_JOB_TTL,
        "retry": Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
    }


def chunk_payload(packets: list[dict]) -> dict:
    """A job's argument: request contexts with their events, and an id that survives retries."""
    return {"chunk_id": uuid.uuid4().hex, "packets": packets}


def enqueue_chunk(packets: list[dict], pipeline=None):
    return queue(EVENTS).enqueue_call(
        PROCESS_EVENTS, args=(chunk_payload(packets),), pipeline=pipeline, **_job_options()
    )


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
