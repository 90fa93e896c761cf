"""Buffers: Redis lists that the worker drains in order, for what does not arrive in chunks.

- `events`: single `/track` events. An RPUSH costs far less than an RQ enqueue; the drain job
  turns the buffer into chunk jobs.
- `profiles`: every profile and group change (identify, increment, ...), from singles and batches
  alike. The drain job applies them itself, in arrival order, whatever the number of workers, so
  that an identify and the increments after it are applied in the order they were sent.
- `rejected`: samples of rejected rows, moved into the database by a periodic job.
The first push into an idle buffer enqueues its drain job; the periodic drain covers a drain job
that died. A packet that cannot be processed is set aside (storage/queue/poison.py), never left at the
head of its buffer.
"""
import logging
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from redis.client import Pipeline
from redis.exceptions import RedisError, WatchError
from rq.job import Job

from contract import jobs, messages
from storage.queue import poison, queues
from storage.redis import client as redis
from storage.redis import counters, keys

logger = logging.getLogger(__name__)

# What a drain hands its packets to: (items, the MULTI pipeline that trims them).
Handle = Callable[[list[tuple[int, Any]], Pipeline], object]
DRAIN_FLAG_SECONDS = 600
DRAIN_LOCK_MS = 60_000
DRAIN_ROUNDS = 8

CLEAR_DRAIN_FLAG = redis.Script(__file__, "clear_drain_flag", int)  # the packets left


class Buffer:
    """A Redis list drained by one job at a time, in order."""

    def __init__(self, name: str, drain_job: str, batch: int, read: Callable[[Any], Any]):
        self.name, self.drain_job, self.batch, self.read = name, drain_job, batch, read
        self.key, self.flag, self.lock = keys.buffer(name), keys.buffer_flag(name), keys.buffer_lock(name)
        self.counter = keys.buffer_trimmed(name)

    def push(self, pipe: Pipeline, packet: Mapping[str, Any]) -> None:
        """Queue an RPUSH of one packet on `pipe`, and the flag that says a drain job is due.

        The caller executes the pipeline and passes the flag's reply to `after_push`.
        """
        pipe.rpush(self.key, self.encode(packet))
        pipe.set(self.flag, 1, nx=True, ex=DRAIN_FLAG_SECONDS)

    def encode(self, packet: Mapping[str, Any]) -> bytes:
        """A packet as it waits in the buffer, compressed (the single-event script pushes these bytes itself)."""
        return messages.pack(packet)

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

    def enqueue_drain(self) -> Job:
        return queues.enqueue(self.drain_job)

    def drain(self, handle: Handle) -> int:
        """Hand the oldest packets to `handle(items, pipe)`, then trim them. Returns how many packets
        left the buffer (handled or set aside).

        `items` are (sequence number, packet as `read` returned it); a packet's sequence number is
        the count of packets ever taken off the buffer before it, plus one. `pipe` is a MULTI
        pipeline that trims the packets when executed: whatever `handle` queues on it (a chunk job,
        an item set aside) happens atomically with the trim.

        One drainer at a time (a lock). A drainer that outlives its lock trims nothing it did not
        handle: the trim is checked against the count of trimmed packets read with the packets
        (WATCH), so when another drainer trimmed meanwhile, this one's trim and everything it
        queued are void, and it stops. `handle` must therefore be idempotent for the packets it
        sees (sequence numbers, row ids and sample ids make it so).

        A packet that cannot be read, or that `handle` fails on with an error that is not
        retriable (storage/queue/poison.py), is set aside and the drain goes on; a retriable error
        leaves every packet where it is and raises.
        """
        handled = 0
        with redis.lock(self.lock, DRAIN_LOCK_MS) as won:
            if not won:
                return 0
            for _ in range(DRAIN_ROUNDS):
                taken = self._round(handle, self.batch)
                if taken is None:
                    break
                handled += taken
        # Clear the flag only when the buffer is empty, atomically, so that the next push re-arms it.
        remaining = CLEAR_DRAIN_FLAG([self.key, self.flag], [])
        if remaining:
            self.enqueue_drain()
        return handled

    def _round(self, handle: Handle, size: int) -> int | None:
        """Take up to `size` packets off the head. None when the buffer is empty or another
        drainer trimmed first."""
        with redis.client().pipeline(transaction=True) as pipe:
            pipe.watch(self.counter)
            raw = pipe.lrange(self.key, 0, size - 1)
            if not raw:
                return None
            seen = pipe.get(self.counter)
            items, aside = self._read(raw, int(seen or 0) + 1)
            pipe.multi()
            try:
                if items:
                    handle(items, pipe)
            except Exception as error:
                if poison.retriable(error):
                    raise
                if len(raw) > 1:  # which packet? Each on its own, so that only that one is set aside
                    pipe.reset()
                    return self._one_at_a_time(handle, len(raw))
                logger.warning("set aside a packet of the %s buffer: %s", self.name, poison.describe(error))
                aside = [poison.entry(self.name, items[0][1], error, _project_of(items[0][1]))]
                pipe.reset()  # drop what `handle` queued before it failed; trim in a fresh transaction
                pipe.watch(self.counter)
                if pipe.get(self.counter) != seen:
                    return None
                pipe.multi()
            poison.queue_put(pipe, aside)
            pipe.ltrim(self.key, len(raw), -1)
            pipe.incrby(self.counter, len(raw))
            try:
                pipe.execute()
            except WatchError:
                logger.warning("a drain of the %s buffer outlived its lock; another drainer went on", self.name)
                return None
        return len(raw)

    def _one_at_a_time(self, handle: Handle, count: int) -> int | None:
        taken = 0
        for _ in range(count):
            one = self._round(handle, 1)
            if one is None:
                return taken or None
            taken += one
        return taken

    def _read(self, raw: list[bytes], first: int) -> tuple[list[tuple[int, Any]], list[messages.SetAside]]:
        """The packets this release can read, numbered, and entries for the ones it cannot."""
        items, aside = [], []
        for position, data in enumerate(raw):
            try:
                parsed = orjson.loads(data)
            except orjson.JSONDecodeError as error:
                aside.append(poison.entry(self.name, data, error))
                continue
            try:
                items.append((first + position, self.read(parsed)))
            except Exception as error:  # a newer format, or not the shape of a packet
                readable = _unpacked(parsed)  # set aside as an operator can read it, unpacked
                item = data if readable is parsed else readable
                aside.append(poison.entry(self.name, item, error, _project_of(readable)))
        for entry in aside:
            logger.warning("set aside a packet of the %s buffer: %s", self.name, entry["error"])
        return items, aside

    def push_raw(self, packets: list[bytes]) -> None:
        """Append packets as they were (taken back from the set-aside list) and make sure a drain comes."""
        with redis.client().pipeline(transaction=True) as pipe:
            pipe.rpush(self.key, *packets)
            pipe.set(self.flag, 1, nx=True, ex=DRAIN_FLAG_SECONDS)
            replies = pipe.execute()
        self.after_push(flag_was_set=bool(replies[1]))


def _unpacked(message: Any) -> Any:
    try:
        return messages.unpack(message)
    except messages.Malformed:
        return message


def _project_of(message: Any) -> str:
    """The project a packet or sample belongs to, when it says."""
    if not isinstance(message, dict):
        return ""
    ctx = message.get("ctx")
    found = ctx.get("project_id") if isinstance(ctx, dict) else message.get("project_id")
    return found if isinstance(found, str) else ""


EVENT_BUFFER = Buffer("events", jobs.DRAIN_EVENTS, batch=500, read=messages.read_event_packet)
PROFILE_BUFFER = Buffer("profiles", jobs.DRAIN_PROFILE_CHANGES, batch=500, read=messages.read_change_packet)
# Filled by ingest/pipeline/rejections.py's recording script; drained by the periodic job.
REJECTED_BUFFER = Buffer("rejected", jobs.STORE_REJECTED_SAMPLES, batch=500, read=messages.read_rejected_sample)
BUFFERS = {buffer.name: buffer for buffer in (EVENT_BUFFER, PROFILE_BUFFER, REJECTED_BUFFER)}


def move_events_to_queue() -> int:
    """Move buffered single events into chunk jobs (enqueued atomically with the trim)."""

    def enqueue(items: list[tuple[int, messages.EventPacket]], pipe: Pipeline) -> None:
        queues.enqueue_chunk([packet for _, packet in items], pipeline=pipe)

    return EVENT_BUFFER.drain(enqueue)


# --- taking back what was set aside (storage/queue/poison.py) --------------------------------------------
def requeue_set_aside(source: str, ids: set[str] | None = None) -> int:
    """Put set-aside items back where they came from: a buffer packet at the end of its buffer, a
    chunk as a new job. Returns how many. One that still cannot be processed is set aside again."""
    taken = poison.take(source, ids)
    if not taken:
        return 0
    if source in BUFFERS:
        BUFFERS[source].push_raw([entry["item"].encode() for entry in taken])
        return len(taken)
    requeued, kept = 0, []
    for entry in taken:
        try:
            payload = orjson.loads(entry["item"])
        except orjson.JSONDecodeError:
            kept.append(entry)  # not even JSON: nothing could run it
            continue
        queues.enqueue(jobs.PROCESS_EVENTS, args=(payload,))
        requeued += 1
    poison.put(kept)
    return requeued


def requeue_readable(limit: int = 1_000) -> int:
    """Take back the items set aside only because they were of a newer format that this release reads
    (a rolling upgrade: an old worker met a new API's packet). Run by the periodic drain."""
    requeued = 0
    for source, waiting in poison.counts().items():
        if waiting:
            ids = {e["id"] for e in poison.listed(source, limit) if 0 < e.get("format", 0) <= messages.FORMAT}
            requeued += requeue_set_aside(source, ids) if ids else 0
    return requeued


def push(
    ctx: messages.JobContext, events: list[messages.QueuedEvent], changes: list[messages.ProfileChange], rows: int = 0
) -> None:
    """Append events and profile changes of one request to their buffers in one round trip, and
    count `rows` accepted rows of its project in the same transaction (storage/redis/counters.py).

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
