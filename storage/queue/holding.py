"""Jobs a worker took off a queue and has not started yet: the worker's reliable pop (issue 17).

RQ's worker pops a job id with BLPOP when it listens on several queues, and registers the job as
started only afterwards; a SIGTERM in between (about 14 ms of each job) left the job in no queue and
no registry. Here a job goes from its queue into the held jobs (one zset: job id -> when it was taken)
in one script, and leaves them in the transaction that registers it as started (the worker's
`prepare_execution`). A job that never started goes back to the head of its queue: at once when the
worker stops (it knows what it holds), or, when the worker died, once it has been held HOLD_SECONDS,
far longer than a live worker takes to start a job (milliseconds).
"""
import time
from typing import NamedTuple

from redis.client import Pipeline
from rq import Queue
from rq.job import Job

from storage.redis import client as redis
from storage.redis import keys

HOLD_SECONDS = 30  # a worker killed in the gap has its job back on its queue within this (+ a maintenance tick)


class Taken(NamedTuple):
    queue_key: str
    job_id: str

    @classmethod
    def of(cls, reply: list | None) -> "Taken | None":
        """take_job.lua's reply: {queue key, job id}, or false (nil) when every queue is empty."""
        return cls(reply[0].decode(), reply[1].decode()) if reply else None


TAKE_JOB = redis.Script(__file__, "take_job", Taken.of)
GIVE_BACK_JOBS = redis.Script(__file__, "give_back_jobs", int)


def take(queue_keys: list[str], now_ms: int | None = None) -> Taken | None:
    """The job at the head of the first non-empty queue of `queue_keys`, now held; None when all are empty.

    Raises redis' OutOfMemoryError when Redis is full (nothing is taken then)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    return TAKE_JOB([keys.HELD_JOBS, *queue_keys], [now_ms])


def queue_started(pipe: Pipeline, job_id: str) -> None:
    """On the pipeline that registers the job as started: it is no longer held."""
    pipe.zrem(keys.HELD_JOBS, job_id)


def give_back(job_ids: list[str]) -> int:
    """Put these held jobs back at the head of their queues, in this order. Returns how many went back."""
    if not job_ids:
        return 0
    args = [Job.redis_job_namespace_prefix, Queue.redis_queue_namespace_prefix, *job_ids]
    return GIVE_BACK_JOBS([keys.HELD_JOBS], args)


def drop(job_id: str) -> None:
    """Hold the job no longer, and put it nowhere (its hash cannot be read: an operator's to look at)."""
    redis.client().zrem(keys.HELD_JOBS, job_id)


def give_back_forgotten(now_ms: int | None = None) -> int:
    """Give back the jobs held longer than HOLD_SECONDS: their worker died before it started them."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    found = redis.client().zrangebyscore(keys.HELD_JOBS, "-inf", now_ms - HOLD_SECONDS * 1000)
    return give_back([job_id.decode() for job_id in found])


def held() -> list[str]:
    """Every held job id, oldest first (for tests and the health page)."""
    return [job_id.decode() for job_id in redis.client().zrange(keys.HELD_JOBS, 0, -1)]
