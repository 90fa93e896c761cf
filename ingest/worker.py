"""The RQ worker Spool runs (settings.RQ["WORKER_CLASS"]): JSON jobs, quick recovery, periodic jobs.

- Jobs are read with the JSON serializer whatever the command line says.
- A job whose worker died is re-run within about 90 s (spec §7), not RQ's default of many
  minutes: horses heartbeat every 5 s (an abandoned job expires 65 s after its last beat), an idle
  worker wakes every 25 s, and registries are cleaned every 20 s.
- Every maintenance tick makes sure the periodic jobs (ingest.schedule) are scheduled.
"""
import logging

from rq import Worker
from rq.serializers import JSONSerializer

from ingest import schedule

logger = logging.getLogger(__name__)

RQ_DEFAULT_WORKER_TTL = 420


class SpoolWorker(Worker):
    def __init__(self, *args, **kwargs):
        kwargs["serializer"] = JSONSerializer
        kwargs.setdefault("maintenance_interval", 20)
        kwargs.setdefault("job_monitoring_interval", 5)
        if kwargs.get("worker_ttl") in (None, RQ_DEFAULT_WORKER_TTL):
            kwargs["worker_ttl"] = 40
        super().__init__(*args, **kwargs)

    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()
        try:
            schedule.ensure_periodic_jobs()
        except Exception:  # a Redis blip must not stop the worker; the next tick tries again
            logger.exception("could not schedule the periodic jobs")
