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

from ingest import keys

logger = logging.getLogger(__name__)

EVENTS = "events"
SESSIONS = "sessions"
DEFAULT = "default"

JOB_TIMEOUT = 300
FAILED_JOB_TTL = 30 * 86_400
# Retries wait for an outage to pass (ClickHouse restarting, a network blip): about 4 hours in all.
RETRY_INTERVALS = [5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200]
DRAIN_FLAG_SECONDS = 600
DRAIN_LOCK_MS = 60_000
DRAIN_ROUNDS = 8

PROCESS_EVENTS = "ingest.jobs.process_events"


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
        token = uuid.uuid4().hex
        if not redis.set(self.lock, token, nx=True, px=DRAIN_LOCK_MS):
            return 0
        handled = 0
        try:
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
        finally:
            if redis.get(self.lock) == token.encode():
                redis.delete(self.lock)
        # Clear the flag only when the buffer is empty, atomically, so that the next push re-arms it.
        remaining = redis.eval(
            "if redis.call('LLEN', KEYS[1]) == 0 then redis.call('DEL', KEYS[2]) return 0 end "
            "return redis.call('LLEN', KEYS[1])",
            2,
            self.key,
            self.flag,
        )
        if remaining:
            self.enqueue_drain()
        return handled


EVENT_BUFFER = Buffer("events", "ingest.jobs.drain_events", batch=500)
PROFILE_BUFFER = Buffer("profiles", "ingest.jobs.drain_profile_changes", batch=500)


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
