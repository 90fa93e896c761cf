"""The RQ worker process Spool runs (settings.RQ["WORKER_CLASS"]; `manage.py runworker`).

- Jobs run in the worker process itself (RQ's SimpleWorker), not in a forked horse: a fork per
  job would cost a fresh ClickHouse connection and module imports every time, which dominates a
  job that writes 500 rows in a few milliseconds.
- Jobs are read as JSON (storage.queues.JobSerializer) whatever the command line says; jobs queued under a name
  that has changed since run under the new one (storage.queues.RENAMED).
- A job whose worker died is re-run within about 90 s (contract §7), not after RQ's default of many
  minutes: a thread renews the job's heartbeat every 5 s while it runs (an abandoned job expires
  65 s after its last beat), an idle worker wakes every 25 s, and registries are cleaned every 20 s.
- Every maintenance tick makes sure the periodic jobs (ingest/worker/schedule.py) are scheduled.
- Redis going away does not end the worker: it waits for Redis and works on.
"""
import logging
import threading
import time

from django.db import close_old_connections
from redis.exceptions import RedisError
from rq import SimpleWorker
from rq.exceptions import StopRequested
from rq.worker import BaseWorker, WorkerStatus

# Imported here so that every job finds its module loaded.
import ingest.worker.jobs  # noqa: F401
import projects.jobs  # noqa: F401
import sessions_app.jobs  # noqa: F401
from ingest.observe import context
from ingest.worker import schedule
from storage import queues

logger = logging.getLogger(__name__)

RQ_DEFAULT_WORKER_TTL = 420
HEARTBEAT_SECONDS = 5


def _forget_dead_executions(job) -> None:
    """A job runs in one execution at a time: what its registry still lists when a run starts are
    executions of workers that died. RQ lists them 60 s longer than they live, and a job whose
    clean-up meets a listed execution that is gone fails ("Execution ... not found in Redis") on
    every retry, for hours, although its rows were written (rq 3.0, seen after a SIGKILL)."""
    job.connection.delete(job.execution_registry.key)


class SpoolWorker(SimpleWorker):
    def __init__(self, *args, **kwargs):
        kwargs["serializer"] = queues.JobSerializer
        kwargs.setdefault("maintenance_interval", 20)
        kwargs.setdefault("job_monitoring_interval", HEARTBEAT_SECONDS)
        if kwargs.get("worker_ttl") in (None, RQ_DEFAULT_WORKER_TTL):
            kwargs["worker_ttl"] = 40
        super().__init__(*args, **kwargs)

    # SimpleWorker keeps a job alive for its whole timeout (+60 s); we renew it instead.
    get_heartbeat_ttl = BaseWorker.get_heartbeat_ttl

    def execute_job(self, job, queue):
        close_old_connections()
        context.job_id.set(job.id)  # on every log record of this job (LOG_FORMAT=json)
        if job.func_name in queues.RENAMED:  # queued by the previous release
            job.func_name = queues.RENAMED[job.func_name]
        _forget_dead_executions(job)
        execution = self.prepare_execution(job)
        done = threading.Event()
        beats = threading.Thread(target=self._keep_alive, args=(job, execution, done), daemon=True)
        beats.start()
        try:
            self.perform_job(job, queue, execution)
        finally:
            done.set()
            beats.join()
            context.clear()
        self.set_state(WorkerStatus.IDLE)

    def _keep_alive(self, job, execution, done: threading.Event) -> None:
        while not done.wait(HEARTBEAT_SECONDS):
            try:
                self.maintain_heartbeats(job, execution)
            except Exception:  # Redis away for a moment: the next beat tries again
                logger.warning("heartbeat of job %s failed", job.id)

    def work(self, *args, **kwargs):
        """RQ's loop quits on a Redis error met outside its dequeue wait (a heartbeat, the status
        update after a job), and the process would end with it. Ours waits for Redis and works on,
        so that ingestion resumes when Redis is back, without a restart (contract §10)."""
        finite = any(kwargs.get(name) for name in ("burst", "max_jobs", "max_idle_time"))
        pause = 1
        while True:
            try:
                worked, reason = super().work(*args, **kwargs), "its loop ended"
            except RedisError as error:  # setting up or tearing down could not reach Redis either
                worked, reason = False, str(error)
            except StopRequested:
                return False
            # A stop was asked for (SIGTERM sets one of these, depending on whether a job ran).
            if finite or self._stop_requested or self._shutdown_requested_date:
                return worked
            logger.warning("worker %s lost Redis (%s); working on in %d s", self.name, reason, pause)
            try:
                time.sleep(pause)
            except StopRequested:
                return worked
            pause = min(pause * 2, 30)
            self._forget_last_run()

    def _forget_last_run(self) -> None:
        """What RQ's teardown could not finish without Redis, so that the next run starts clean."""
        try:
            self.register_death()  # the next run registers again under the same name
        except RedisError:
            pass
        thread = getattr(self, "pubsub_thread", None)
        if thread is not None:
            thread.stop()  # it would retry on its own, beside the next run's
            self.pubsub_thread = None

    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()
        try:
            schedule.ensure_periodic_jobs()
        except Exception:  # a Redis blip must not stop the worker; the next tick tries again
            logger.exception("could not schedule the periodic jobs")
