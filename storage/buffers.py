"""Buffers: Redis lists that the worker drains in order, for what does not arrive in chunks.

- `events`: single `/track` events. An RPUSH costs far less than an RQ enqueue; the drain job
  turns the buffer into chunk jobs.
- `profiles`: every profile and group change (identify, increment, ...), from singles and batches
  alike. The drain job applies them itself, in arrival order, whatever the number of workers, so
  that an identify and the increments after it are applied in the order they were sent.
- `rejected`: samples of rejected rows, moved into the database by a periodic job.
The first push into an idle buffer enqueues its drain job; the periodic drain covers a drain job
that died.
"""
import logging
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from redis.exceptions import RedisError

from storage import counters, keys, messages, queues, redis

logger = logging.getLogger(__name__)

DRAIN_FLAG_SECONDS = 600
DRAIN_LOCK_MS = 60_000
DRAIN_ROUNDS = 8

_CLEAR_FLAG_IF_EMPTY = """
if redis.call('LLEN', KEYS[1]) == 0 then redis.call('DEL', KEYS[2]) return 0 end
return redis.call('LLEN', KEYS[1])
"""


class Buffer:
    """A Redis list drained by one job at a time, in order."""

    def __init__(self, name: str, drain_job: str, batch: int):
        self.name, self.drain_job, self.batch = name, drain_job, batch
        self.key, self.flag, self.lock = keys.buffer(name), keys.buffer_flag(name), keys.buffer_lock(name)

    def push(self, pipe, packet: Mapping[str, Any]) -> None:
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
        return queues.queue(queues.EVENTS).enqueue_call(self.drain_job, **queues.job_options())

    def drain(self, handle: Callable[[list[Any], int, Any], object]) -> int:
        """Hand the oldest packets to `handle(packets, first_sequence, pipe)`, then trim them.

        `pipe` is a MULTI pipeline that trims the packets when executed: whatever `handle` queues on
        it happens atomically with the trim. One drainer at a time (a lock): reading the head of
        the list and trimming it must not interleave with another drainer, or packets would be
        handled twice or lost. A drainer that finds the lock taken leaves the work to its holder.
        Returns the number of packets handled.
        """
        client = redis.client()
        handled = 0
        with redis.lock(self.lock, DRAIN_LOCK_MS) as won:
            if not won:
                return 0
            for _ in range(DRAIN_ROUNDS):
                raw = client.lrange(self.key, 0, self.batch - 1)
                if not raw:
                    break
                first = int(client.get(keys.buffer_trimmed(self.name)) or 0) + 1
                with client.pipeline(transaction=True) as pipe:
                    handle([orjson.loads(item) for item in raw], first, pipe)
                    pipe.ltrim(self.key, len(raw), -1)
                    pipe.incrby(keys.buffer_trimmed(self.name), len(raw))
                    pipe.execute()
                handled += len(raw)
        # Clear the flag only when the buffer is empty, atomically, so that the next push re-arms it.
        remaining = redis.script(_CLEAR_FLAG_IF_EMPTY)(keys=[self.key, self.flag])
        if remaining:
            self.enqueue_drain()
        return handled


EVENT_BUFFER = Buffer("events", queues.DRAIN_EVENTS, batch=500)
PROFILE_BUFFER = Buffer("profiles", queues.DRAIN_PROFILE_CHANGES, batch=500)
# Filled by ingest/pipeline/rejections.py's recording script; drained by the periodic job.
REJECTED_BUFFER = Buffer("rejected", queues.STORE_REJECTED_SAMPLES, batch=500)


def move_events_to_queue() -> int:
    """Move buffered single events into chunk jobs (enqueued atomically with the trim)."""

    def enqueue(packets: list[dict], first: int, pipe) -> None:
        queues.enqueue_chunk([messages.read_event_packet(packet) for packet in packets], pipeline=pipe)

    return EVENT_BUFFER.drain(enqueue)


def push(
    ctx: messages.JobContext, events: list[messages.QueuedEvent], changes: list[messages.ProfileChange], rows: int = 0
) -> None:
    """Append events and profile changes of one request to their buffers in one round trip, and
    count `rows` accepted rows of its project in the same transaction (storage/counters.py).

    Raises RedisError when Redis refuses: then nothing of this call is acknowledged, or counted.
    """
    used = []
    with redis.client().pipeline(transaction=True) as pipe:
        if events:
            EVENT_BUFFER.push(pipe, messages.event_packet(ctx, events))
            used.append(EVENT_BUFFER)
        if changes:
            PROFILE_BUFFER.push(pipe, messages.change_packet(ctx, changes))
            used.append(PROFILE_BUFFER)
        counters.queue_accepted(pipe, ctx["project_id"], ctx["received_ms"], rows)
        replies = pipe.execute()
    for position, buffer in enumerate(used):
        buffer.after_push(flag_was_set=bool(replies[2 * position + 1]))
