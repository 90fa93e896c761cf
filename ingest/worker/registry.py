"""Every job the worker runs, named once: the RQ jobs (function, queue, timeout, retries), the periodic
tasks (function, period, queue) and the jobs an earlier release queued under another path. Storage
enqueues by a job's name (contract/jobs.py) through this table, given to it when Django starts."""
from dataclasses import dataclass

from django.conf import settings

from contract import jobs
from storage.queue import queues
from storage.queue.queues import JobSpec

# Jobs are stored with the dotted path of their function (RQ's way). The paths wait in Redis with the
# jobs, so a renamed function keeps its old path working (RENAMED) until the queues have drained.
PROCESS_EVENTS = "ingest.worker.jobs.process_events"
DRAIN_EVENTS = "ingest.worker.jobs.drain_events"
DRAIN_PROFILE_CHANGES = "ingest.worker.jobs.drain_profile_changes"
STORE_REJECTED_SAMPLES = "ingest.worker.jobs.store_rejected_samples"
RUN_PERIODIC = "ingest.worker.schedule.run_periodic"

PERIODIC_TIMEOUT = 600
JOBS = (
    JobSpec(jobs.PROCESS_EVENTS, PROCESS_EVENTS),  # or on the bulk queue, chosen per request
    JobSpec(jobs.DRAIN_EVENTS, DRAIN_EVENTS),
    JobSpec(jobs.DRAIN_PROFILE_CHANGES, DRAIN_PROFILE_CHANGES),
    JobSpec(jobs.STORE_REJECTED_SAMPLES, STORE_REJECTED_SAMPLES),
    # On the queue of its task; not retried: the next run is scheduled when one ends (schedule.py).
    JobSpec(jobs.RUN_PERIODIC, RUN_PERIODIC, queue=queues.DEFAULT, timeout=PERIODIC_TIMEOUT, retried=False),
)
# Jobs that the previous release queued under paths that have changed since: the worker runs them
# under their new paths (ingest/worker/spool_worker.py), so a deploy loses none of them.
RENAMED = {
    "ingest.jobs.process_events": PROCESS_EVENTS,
    "ingest.jobs.drain_events": DRAIN_EVENTS,
    "ingest.jobs.drain_profile_changes": DRAIN_PROFILE_CHANGES,
    "ingest.jobs.store_rejected_samples": STORE_REJECTED_SAMPLES,
    "ingest.schedule.run_periodic": RUN_PERIODIC,
}

DAY = 86_400
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
        Periodic("store-rejected-samples", STORE_REJECTED_SAMPLES, every=30, queue=UPKEEP),
        Periodic("rotate-salts", "projects.jobs.rotate_salts", every=DAY, queue=queues.DEFAULT),
        # RETENTION_MONTHS: whole months of events past it are dropped.
        Periodic("drop-old-partitions", "ingest.worker.retention.drop_old_partitions", every=DAY, queue=queues.DEFAULT),
    )
    return {task.name: task for task in tasks}


def install() -> None:
    """Give storage the job table (ingest/apps.py, in every process Django starts)."""
    queues.use_jobs(JOBS, RENAMED)
