"""Periodic jobs, run by RQ's scheduler (`rqworker --with-scheduler`).

Each periodic job schedules its next run when it finishes, and every worker re-checks the
schedule at its maintenance tick, so the chain survives restarts. A run's job id is derived from
its due time: two workers scheduling the same run create one job, not two.
"""
import importlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from rq.exceptions import NoSuchJobError
from rq.job import Job

from ingest import queue

logger = logging.getLogger(__name__)
DAY = 86_400


@dataclass(frozen=True)
class Periodic:
    name: str
    func: str  # dotted path of a function without arguments
    every: int  # seconds; runs are aligned to multiples of it since the epoch (UTC midnight for a day)
    queue: str

    def next_due(self, now: float) -> int:
        return (int(now) // self.every + 1) * self.every

    def job_id(self, due: int) -> str:
        return f"spool-periodic-{self.name}-{due}"


PERIODIC = {
    task.name: task
    for task in (
        Periodic("close-sessions", "sessions_app.jobs.close_sessions", every=30, queue=queue.SESSIONS),
        Periodic("flush-buffer", "ingest.jobs.flush_buffer", every=30, queue=queue.EVENTS),
        Periodic("store-rejected-samples", "ingest.jobs.store_rejected_samples", every=30, queue=queue.DEFAULT),
        Periodic("rotate-salts", "projects.jobs.rotate_salts", every=DAY, queue=queue.DEFAULT),
    )
}


def _schedule(task: Periodic, now: float) -> None:
    due = task.next_due(now)
    rq_queue = queue.queue(task.queue)
    job_id = task.job_id(due)
    try:
        Job.fetch(job_id, connection=rq_queue.connection, serializer=rq_queue.serializer)
        return  # already scheduled (or running)
    except NoSuchJobError:
        pass
    rq_queue.enqueue_at(
        datetime.fromtimestamp(due, tz=timezone.utc),
        "ingest.schedule.run_periodic",
        task.name,
        job_id=job_id,
        result_ttl=0,
        failure_ttl=DAY,
        job_timeout=600,
    )


def ensure_periodic_jobs(now: float | None = None) -> None:
    now = time.time() if now is None else now
    for task in PERIODIC.values():
        _schedule(task, now)


def run_periodic(name: str):
    task = PERIODIC[name]
    module, _, func = task.func.rpartition(".")
    try:
        return getattr(importlib.import_module(module), func)()
    finally:
        _schedule(task, time.time())
