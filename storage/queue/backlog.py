"""How much work waits in Redis, read in two round trips: the length of every queue and buffer, the
age of the oldest waiting item, jobs failed / scheduled / running, pending session ends, and Redis
memory. Read by /metrics and the admin's ingestion health page."""
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from rq.job import Job

from contract import messages
from storage.queue import buffers, queues
from storage.redis import client as redis
from storage.redis import keys

BUFFERS = (buffers.EVENT_BUFFER, buffers.PROFILE_BUFFER, buffers.REJECTED_BUFFER)


@dataclass
class QueueState:
    name: str
    waiting: int = 0
    oldest_age: float = 0.0  # seconds the first waiting job has waited (0: none)
    running: int = 0
    scheduled: int = 0  # retries and periodic runs waiting for their time
    failed: int = 0


@dataclass
class BufferState:
    name: str
    waiting: int = 0
    oldest_age: float = 0.0


@dataclass
class Backlog:
    queues: list[QueueState] = field(default_factory=list)
    buffers: list[BufferState] = field(default_factory=list)
    live_ends: int = 0  # live sessions waiting for their end
    historical_ends: int = 0
    overdue_ends: int = 0  # of those, the ones whose end is due already
    used_memory: int = 0
    max_memory: int = 0  # 0: Redis has no maxmemory


def _age(moment: datetime | None, now: float) -> float:
    return max(0.0, now - moment.timestamp()) if moment else 0.0


def _packet_age(raw: bytes | None, now: float) -> float:
    """Age of a buffered packet from the time its request was received."""
    if not raw:
        return 0.0
    try:
        packet = messages.unpack(orjson.loads(raw))
        received_ms = packet["ctx"]["received_ms"] if "ctx" in packet else packet["received_ms"]
        return max(0.0, now - received_ms / 1000)
    except (ValueError, KeyError, TypeError):
        return 0.0


def read(now: float | None = None) -> Backlog:
    """The backlog now. Raises RedisError."""
    now = time.time() if now is None else now
    client = redis.client()
    rq_queues = [queues.queue(name) for name in queues.NAMES]
    with client.pipeline(transaction=False) as pipe:
        for rq_queue in rq_queues:
            pipe.llen(rq_queue.key)
            pipe.lindex(rq_queue.key, 0)
            pipe.zcard(rq_queue.started_job_registry.key)
            pipe.zcard(rq_queue.scheduled_job_registry.key)
            pipe.zcard(rq_queue.failed_job_registry.key)
        for buffer in BUFFERS:
            pipe.llen(buffer.key)
            pipe.lindex(buffer.key, 0)
        pipe.zcard(keys.LIVE_ENDS)
        pipe.zcard(keys.HISTORICAL_ENDS)
        pipe.zcount(keys.LIVE_ENDS, "-inf", int(now * 1000))
        pipe.zcount(keys.HISTORICAL_ENDS, "-inf", int(now * 1000))
        pipe.info("memory")
        replies = pipe.execute()
    backlog = Backlog()
    heads = []
    for position, rq_queue in enumerate(rq_queues):
        waiting, head, running, scheduled, failed = replies[5 * position : 5 * position + 5]
        backlog.queues.append(QueueState(rq_queue.name, waiting, 0.0, running, scheduled, failed))
        heads.append(head.decode() if head else None)
    rest = replies[5 * len(rq_queues) :]
    for position, buffer in enumerate(BUFFERS):
        waiting, head = rest[2 * position : 2 * position + 2]
        backlog.buffers.append(BufferState(buffer.name, waiting, _packet_age(head, now)))
    live, historical, live_due, historical_due, memory = rest[2 * len(BUFFERS) :]
    backlog.live_ends, backlog.historical_ends, backlog.overdue_ends = live, historical, live_due + historical_due
    backlog.used_memory, backlog.max_memory = memory.get("used_memory", 0), memory.get("maxmemory", 0)
    _oldest_jobs(backlog, heads, now)
    return backlog


def _oldest_jobs(backlog: Backlog, heads: list[str | None], now: float) -> None:
    """The waiting time of each queue's first job (one more round trip)."""
    wanted = [(state, job_id) for state, job_id in zip(backlog.queues, heads) if job_id]
    if not wanted:
        return
    with redis.client().pipeline(transaction=False) as pipe:
        for _, job_id in wanted:
            pipe.hget(Job.key_for(job_id), "enqueued_at")
        stamps = pipe.execute()
    for (state, _), stamp in zip(wanted, stamps):
        if stamp:
            try:
                moment = datetime.fromisoformat(stamp.decode().replace("Z", "+00:00"))
            except ValueError:
                continue
            state.oldest_age = _age(moment if moment.tzinfo else moment.replace(tzinfo=UTC), now)
