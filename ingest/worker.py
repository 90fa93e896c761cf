"""The RQ worker Spool runs (settings.RQ["WORKER_CLASS"]).

- Jobs run in the worker process itself (RQ's SimpleWorker), not in a forked horse: a fork per
  job would cost a fresh ClickHouse connection and module imports every time, which dominates a
  job that writes 500 rows in a few milliseconds.
- Jobs are read with the JSON serializer whatever the command line says.
- A job whose worker died is re-run within about 90 s (spec §7), not after RQ's default of many
  minutes: a thread renews the job's heartbeat every 5 s while it runs (an abandoned job expires
  65 s after its last beat), an idle worker wakes every 25 s, and registries are cleaned every 20 s.
- Every maintenance tick makes sure the periodic jobs (ingest.schedule) are scheduled.
"""
import logging
import threading

from django.db import close_old_connections
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from rq.worker import BaseWorker, WorkerStatus

# Imported here so that every job finds its module loaded.
import ingest.jobs  # noqa: F401
import projects.jobs  # noqa: F401
import sessions_app.jobs  # noqa: F401
from ingest import schedule

logger = logging.getLogger(__name__)

RQ_DEFAULT_WORKER_TTL = 420
HEARTBEAT_SECONDS = 5


class SpoolWorker(SimpleWorker):
    def __init__(self, *args, **kwargs):
        kwargs["serializer"] = JSONSerializer
        kwargs.setdefault("maintenance_interval", 20)
        kwargs.setdefault("job_monitoring_interval", HEARTBEAT_SECONDS)
        if kwargs.get("worker_ttl") in (None, RQ_DEFAULT_WORKER_TTL):
            kwargs["worker_ttl"] = 40
        super().__init__(*args, **kwargs)

    # SimpleWorker keeps a job alive for its whole timeout (+60 s); we renew it instead.
    get_heartbeat_ttl = BaseWorker.get_heartbeat_ttl

    def execute_job(self, job, queue):
        close_old_connections()
        execution = self.prepare_execution(job)
        done = threading.Event()
        beats = threading.Thread(target=self._keep_alive, args=(job, execution, done), daemon=True)
        beats.start()
        try:
            self.perform_job(job, queue, execution)
        finally:
            done.set()
            beats.join()
        self.set_state(WorkerStatus.IDLE)

    def _keep_alive(self, job, execution, done: threading.Event) -> None:
        while not done.wait(HEARTBEAT_SECONDS):
            try:
                self.maintain_heartbeats(job, execution)
            except Exception:  # Redis away for a moment: the next beat tries again
                logger.warning("heartbeat of job %s failed", job.id)

    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()
        try:
            schedule.ensure_periodic_jobs()
        except Exception:  # a Redis blip must not stop the worker; the next tick tries again
            logger.exception("could not schedule the periodic jobs")
