"""Periodic work: what runs every so often, and who runs it.

Two kinds. The session sweep and the buffer drains free Redis, so they must run when Redis is full,
when RQ cannot create a job: every worker's own loop runs them (ingest/worker/upkeep.py, `queue`
None), one worker at a time. The others are RQ jobs run by RQ's scheduler (`rqworker
--with-scheduler`): each schedules its next run when it finishes, and every worker re-checks the
schedule at its maintenance tick, so the chain survives restarts. A run's job id is derived from its
due time: two workers scheduling the same run create one job, not two.
"""
import importlib
import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone

import orjson
from redis.exceptions import RedisError
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from ingest.worker import registry
from storage.queue import poison, queues
from storage.redis import client as redis
from storage.redis import keys

logger = logging.getLogger(__name__)
RESCUE_AFTER_SECONDS = 10


def _fetch(rq_queue: Queue, job_id: str) -> Job | None:
    try:
        return Job.fetch(job_id, connection=rq_queue.connection, serializer=rq_queue.serializer)
    except NoSuchJobError:
        return None


def _rescue_overdue(rq_queue: Queue, now: float) -> int:
    """Queue scheduled jobs (periodic runs, retries) whose time passed while no scheduler ran.

    RQ's scheduler keeps its lock for about a minute after its worker was killed; ending sessions
    and retrying failed chunks should not wait for the lock to expire. Each job leaves the scheduled
    registry in the transaction that queues it: when Redis refuses it (full), the job stays scheduled.
    """
    scheduled = ScheduledJobRegistry(queue=rq_queue)
    rescued = 0
    for job_id in scheduled.get_expired_job_ids(now - RESCUE_AFTER_SECONDS):
        job = _fetch(rq_queue, job_id)
        with rq_queue.connection.pipeline() as pipe:
            scheduled.remove(job_id, pipeline=pipe)
            if job is not None:
                rq_queue.enqueue_job(job, pipeline=pipe)
            pipe.execute()
        rescued += job is not None
    return rescued


def _schedule(task: registry.Periodic, now: float) -> None:
    if task.queue is registry.UPKEEP:
        return
    rq_queue = queues.queue(task.queue)
    due = task.next_due(now)
    job_id = task.job_id(due)
    if _fetch(rq_queue, job_id) is not None:
        return  # already scheduled (or running)
    rq_queue.enqueue_at(
        datetime.fromtimestamp(due, tz=timezone.utc),
        registry.RUN_PERIODIC,
        task.name,
        job_id=job_id,
        result_ttl=0,
        failure_ttl=registry.DAY,
        job_timeout=registry.PERIODIC_TIMEOUT,
    )


def ensure_periodic_jobs(now: float | None = None) -> None:
    """Called at every worker's maintenance tick: rescue overdue jobs, schedule the next runs."""
    now = time.time() if now is None else now
    for name in queues.NAMES:
        _rescue_overdue(queues.queue(name), now)
    for task in registry.periodic_tasks().values():
        _schedule(task, now)


def run_periodic(name: str) -> object:
    """The RQ job of a periodic task (and a way to run any task at once)."""
    task = registry.periodic_tasks().get(name)
    if task is None:  # scheduled by an older release under a name that no longer exists
        logger.warning("dropping the unknown periodic job %r", name)
        return None
    try:
        return run(task)  # an upkeep task's RQ job was queued by the release before: it runs once
    finally:
        _schedule(task, time.time())


def run(task: registry.Periodic, go_on: Callable[[], bool] = lambda: True) -> object:
    """Run the task once and record the run; an upkeep task stops early when `go_on()` turns false."""
    module, _, func = task.func.rpartition(".")
    started, outcome = time.time(), "failed"
    try:
        found = getattr(importlib.import_module(module), func)
        result = found(go_on=go_on) if task.queue is registry.UPKEEP else found()
        outcome = "ok"
        return result
    finally:
        _remember_run(task.name, started, outcome)


def _remember_run(name: str, started: float, outcome: str) -> None:
    """The last run of each periodic job, for the admin's ingestion health page."""
    run = {"at": started, "seconds": round(time.time() - started, 3), "outcome": outcome}
    try:
        redis.client().hset(keys.PERIODIC_RUNS, name, orjson.dumps(run))
    except RedisError as error:  # a full Redis refuses it: said once by the upkeep, not at every run
        if not poison.full(error):
            logger.warning("could not record the run of the periodic job %s", name)


def scheduled_due(task: registry.Periodic) -> int | None:
    """The due time of the earliest run of an RQ task waiting in its scheduled registry, or None
    (an upkeep task, or no worker has scheduled it)."""
    if task.queue is registry.UPKEEP:
        return None
    prefix = task.job_id(0).removesuffix("0")
    ids = ScheduledJobRegistry(queue=queues.queue(task.queue)).get_job_ids()
    return min((int(job_id[len(prefix) :]) for job_id in ids if job_id.startswith(prefix)), default=None)


def last_runs() -> dict[str, dict]:
    """{periodic job name: {"at": epoch seconds, "seconds": its duration, "outcome": "ok" | "failed"}}."""
    raw = redis.client().hgetall(keys.PERIODIC_RUNS)
    return {name.decode(): orjson.loads(run) for name, run in raw.items()}
