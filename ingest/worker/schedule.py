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
from dataclasses import dataclass
from datetime import datetime, timezone

import orjson
from django.conf import settings
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from storage import keys, poison, queues, redis

logger = logging.getLogger(__name__)
DAY = 86_400
RESCUE_AFTER_SECONDS = 10


UPKEEP = None  # the queue of a task that the worker's own loop runs (ingest/worker/upkeep.py)


@dataclass(frozen=True)
class Periodic:
    name: str
    func: str  # dotted path of a function without arguments (an upkeep task's takes `go_on`)
    every: int  # seconds; an RQ job's runs are aligned to multiples of it since the epoch (UTC midnight for a day)
    queue: str | None  # None: the worker's loop runs it (UPKEEP)

    def next_due(self, now: float) -> int:
        return (int(now) // self.every + 1) * self.every

    def job_id(self, due: int) -> str:
        return f"spool-periodic-{self.name}-{due}"


def periodic_tasks() -> dict[str, Periodic]:
    tasks = (
        # In this order: the sweep frees the most (live-session state), the drains after it.
        Periodic("close-sessions", "sessions_app.jobs.close_sessions", settings.SESSION_SWEEP_SECONDS, UPKEEP),
        Periodic("drain-buffers", "ingest.worker.jobs.drain_buffers", every=30, queue=UPKEEP),
        Periodic("store-rejected-samples", queues.STORE_REJECTED_SAMPLES, every=30, queue=UPKEEP),
        Periodic("rotate-salts", "projects.jobs.rotate_salts", every=DAY, queue=queues.DEFAULT),
        # RETENTION_MONTHS: whole months of events past it are dropped.
        Periodic("drop-old-partitions", "ingest.worker.retention.drop_old_partitions", every=DAY, queue=queues.DEFAULT),
    )
    return {task.name: task for task in tasks}


def _fetch(rq_queue, job_id: str) -> Job | None:
    try:
        return Job.fetch(job_id, connection=rq_queue.connection, serializer=rq_queue.serializer)
    except NoSuchJobError:
        return None


def _rescue_overdue(rq_queue, now: float) -> int:
    """Queue scheduled jobs (periodic runs, retries) whose time passed while no scheduler ran.

    RQ's scheduler keeps its lock for about a minute after its worker was killed; ending sessions
    and retrying failed chunks should not wait for the lock to expire. Each job leaves the scheduled
    registry in the transaction that queues it: when Redis refuses it (full), the job stays scheduled.
    """
    registry = ScheduledJobRegistry(queue=rq_queue)
    rescued = 0
    for job_id in registry.get_expired_job_ids(now - RESCUE_AFTER_SECONDS):
        job = _fetch(rq_queue, job_id)
        with rq_queue.connection.pipeline() as pipe:
            registry.remove(job_id, pipeline=pipe)
            if job is not None:
                rq_queue.enqueue_job(job, pipeline=pipe)
            pipe.execute()
        rescued += job is not None
    return rescued


def _schedule(task: Periodic, now: float) -> None:
    if task.queue is UPKEEP:
        return
    rq_queue = queues.queue(task.queue)
    due = task.next_due(now)
    job_id = task.job_id(due)
    if _fetch(rq_queue, job_id) is not None:
        return  # already scheduled (or running)
    rq_queue.enqueue_at(
        datetime.fromtimestamp(due, tz=timezone.utc),
        queues.RUN_PERIODIC,
        task.name,
        job_id=job_id,
        result_ttl=0,
        failure_ttl=DAY,
        job_timeout=600,
    )


def ensure_periodic_jobs(now: float | None = None) -> None:
    """Called at every worker's maintenance tick: rescue overdue jobs, schedule the next runs."""
    now = time.time() if now is None else now
    for name in queues.NAMES:
        _rescue_overdue(queues.queue(name), now)
    for task in periodic_tasks().values():
        _schedule(task, now)


def run_periodic(name: str):
    """The RQ job of a periodic task (and a way to run any task at once)."""
    task = periodic_tasks().get(name)
    if task is None:  # scheduled by an older release under a name that no longer exists
        logger.warning("dropping the unknown periodic job %r", name)
        return None
    try:
        return run(task)  # an upkeep task's RQ job was queued by the release before: it runs once
    finally:
        _schedule(task, time.time())


def run(task: Periodic, go_on: Callable[[], bool] = lambda: True):
    """Run the task once and record the run; an upkeep task stops early when `go_on()` turns false."""
    module, _, func = task.func.rpartition(".")
    started, outcome = time.time(), "failed"
    try:
        found = getattr(importlib.import_module(module), func)
        result = found(go_on=go_on) if task.queue is UPKEEP else found()
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


def scheduled_due(task: Periodic) -> int | None:
    """The due time of the earliest run of an RQ task waiting in its scheduled registry, or None
    (an upkeep task, or no worker has scheduled it)."""
    if task.queue is UPKEEP:
        return None
    prefix = task.job_id(0).removesuffix("0")
    ids = ScheduledJobRegistry(queue=queues.queue(task.queue)).get_job_ids()
    return min((int(job_id[len(prefix) :]) for job_id in ids if job_id.startswith(prefix)), default=None)


def last_runs() -> dict[str, dict]:
    """{periodic job name: {"at": epoch seconds, "seconds": its duration, "outcome": "ok" | "failed"}}."""
    raw = redis.client().hgetall(keys.PERIODIC_RUNS)
    return {name.decode(): orjson.loads(run) for name, run in raw.items()}
