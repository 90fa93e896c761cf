"""The RQ worker process Spool runs (settings.RQ["WORKER_CLASS"]; `manage.py runworker`).

- Jobs run in the worker process itself (RQ's SimpleWorker), not in a forked horse: a fork per
  job would cost a fresh ClickHouse connection and module imports every time, which dominates a
  job that writes 500 rows in a few milliseconds.
- Jobs are read as JSON (storage.queue.queues.JobSerializer) whatever the command line says; jobs queued under a name
  that has changed since run under the new one (ingest/worker/registry.py).
- A job is taken off its queue into the held jobs and leaves them in the transaction that registers
  it as started (storage/queue/holding.py): a stop between the two gives it back, so no deploy loses it.
  RQ's BLPOP over several queues cannot do that; the worker polls instead (IDLE_POLL_SECONDS).
- A stop is a flag that every step reads (`_shutdown`): a SIGTERM lets the running job end, stops
  the upkeep between two rounds and an idle wait within IDLE_POLL_SECONDS, and never raises in the
  middle of a step. A second SIGTERM is RQ's cold shutdown (SystemExit), after which the held job
  still goes back; a SIGKILL's job comes back after storage.queue.holding.HOLD_SECONDS.
- A job whose worker died is re-run within about 90 s (contract §7), not after RQ's default of many
  minutes: a thread renews the job's heartbeat every 5 s while it runs (an abandoned job expires
  65 s after its last beat), and registries are cleaned every 20 s (storage/queue/retries.py).
- A failed job's retry is scheduled in one transaction with its status (storage/queue/retries.py).
- Every worker's loop runs the upkeep (ingest/worker/upkeep.py: the session sweep and the drains) and,
  at its maintenance tick, makes sure the periodic RQ jobs (ingest/worker/schedule.py) are scheduled.
- Redis going away, full or read-only does not end the worker: it waits, frees what it can, and works on.
"""
import logging
import threading
import time

from django.db import close_old_connections
from redis.exceptions import ConnectionError, RedisError, TimeoutError
from rq import SimpleWorker
from rq.exceptions import NoSuchJobError, StopRequested
from rq.executions import Execution
from rq.registry import DeferredJobRegistry, FailedJobRegistry, FinishedJobRegistry
from rq.results import Result
from rq.suspension import WORKERS_SUSPENDED
from rq.utils import now, utcformat
from rq.worker import BaseWorker, WorkerStatus
from rq.worker_registration import clean_worker_registry

# Imported here so that every job finds its module loaded.
import ingest.worker.jobs  # noqa: F401
import projects.jobs  # noqa: F401
import sessions_app.jobs  # noqa: F401
from ingest.observe import context
from ingest.worker import registry, schedule
from ingest.worker.upkeep import Upkeep
from storage.queue import holding, poison, queues, retries
from storage.redis import client as redis
from storage.redis import reserve

logger = logging.getLogger(__name__)

RQ_DEFAULT_WORKER_TTL = 420
HEARTBEAT_SECONDS = 5
IDLE_POLL_SECONDS = 0.1  # an idle worker looks at its queues this often: the latency it adds to a new job
LONGEST_PAUSE = 30  # seconds between two tries while Redis is away
REFUSED_PAUSE = 5  # ... and while it answers but refuses writes (full, read-only): the upkeep runs between tries
BEAT = redis.Script(__file__, "beat", bool)  # whether the worker's hash existed
RETRY_ERROR_TTL = 86_400  # the last error of a job waiting for a retry (the longest interval is 2 h by default)
RETRY_ERROR_CHARS = 2000  # its tail: the exception and the frames nearest to it


def _forget_dead_executions(job) -> None:
    """A job runs in one execution at a time: what its registry still lists when a run starts are
    executions of workers that died. RQ lists them 60 s longer than they live, and a job whose
    clean-up meets a listed execution that is gone fails ("Execution ... not found in Redis") on
    every retry, for hours, although its rows were written (rq 3.0, seen after a SIGKILL)."""
    job.connection.delete(job.execution_registry.key)


def _unless_refused(error: RedisError) -> None:
    """Raise `error` again unless it is Redis refusing a write (full, read-only, loading): what only
    leaves a worker's or a job's bookkeeping field stale. Redis away is for the loop to wait out."""
    if isinstance(error, (ConnectionError, TimeoutError)) or not poison.retriable(error):
        raise error


class SpoolWorker(SimpleWorker):
    def __init__(self, *args, **kwargs):
        kwargs["serializer"] = queues.JobSerializer
        kwargs.setdefault("maintenance_interval", 20)
        kwargs.setdefault("job_monitoring_interval", HEARTBEAT_SECONDS)
        if kwargs.get("worker_ttl") in (None, RQ_DEFAULT_WORKER_TTL):
            kwargs["worker_ttl"] = 40
        super().__init__(*args, **kwargs)
        self.upkeep = Upkeep()
        self.held: str | None = None  # the job taken off its queue and not started yet
        self.burst = False
        self._next_beat = 0.0
        self._pause_seconds = 0.0

    # SimpleWorker keeps a job alive for its whole timeout (+60 s); we renew it instead.
    get_heartbeat_ttl = BaseWorker.get_heartbeat_ttl

    # --- stopping ----------------------------------------------------------------------------------
    def _shutdown(self):
        """Called by RQ's SIGTERM handler. RQ raises StopRequested here when the worker is not busy,
        wherever the main thread is: between taking a job and starting it that lost the job, and an
        `except Exception` in the maintenance swallowed it (the worker ran on until SIGKILL). Here a stop
        is only a flag, read by every step; nothing is written to Redis from the signal handler."""
        self._stop_requested = True
        if self.scheduler:
            self.stop_scheduler()

    def go_on(self) -> bool:
        return not self._stop_requested

    def _pause(self, seconds: float) -> None:
        """Sleep, but wake for a stop."""
        deadline = time.monotonic() + seconds
        while self.go_on() and time.monotonic() < deadline:
            time.sleep(min(IDLE_POLL_SECONDS, max(0.0, deadline - time.monotonic())))

    def teardown(self):
        """RQ's, after giving back the job taken and not started, and without failing on a full Redis."""
        self._give_back_held()
        try:
            super().teardown()
        except RedisError as error:
            logger.warning("worker %s: could not record its stop (%s)", self.name, poison.describe(error))

    def _give_back_held(self) -> None:
        if self.held is None:
            return
        try:
            holding.give_back([self.held])
        except RedisError as error:  # it comes back after holding.HOLD_SECONDS
            logger.warning("could not give back the job %s (%s)", self.held, poison.describe(error))
        self.held = None

    # --- taking jobs ---------------------------------------------------------------------------------
    def work(self, *args, **kwargs):
        """RQ's loop quits on a Redis error met outside its dequeue wait (a heartbeat, the status
        update after a job), and the process would end with it. Ours waits for Redis and works on,
        so that ingestion resumes when Redis is back, without a restart (contract §10). A Redis too
        full to register the worker still gets the upkeep, which frees it."""
        self.burst = bool(kwargs.get("burst"))
        finite = any(kwargs.get(name) for name in ("burst", "max_jobs", "max_idle_time"))
        pause, longest = 1, LONGEST_PAUSE
        while True:
            try:
                worked, reason = super().work(*args, **kwargs), "its loop ended"
            except RedisError as error:  # setting up or tearing down could not reach Redis either
                worked, reason = False, poison.describe(error)
                if poison.full(error):
                    self.upkeep.redis_full()
                longest = LONGEST_PAUSE if isinstance(error, (ConnectionError, TimeoutError)) else REFUSED_PAUSE
            except StopRequested:
                return False
            if finite or not self.go_on() or self._shutdown_requested_date:
                return worked
            logger.warning("worker %s lost Redis (%s); working on in %d s", self.name, reason, pause)
            self.upkeep.tick(self.go_on)
            self._pause(pause)
            pause = min(pause * 2, longest)
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

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        """RQ's dequeue, made reliable: the job is held until it starts (storage/queue/holding.py). While idle
        the worker looks at its queues every IDLE_POLL_SECONDS, beats, runs its maintenance and its
        upkeep; a Redis that is away or refuses writes makes it wait, never quit. `timeout` None is
        RQ's burst mode: return None as soon as every queue is empty."""
        self.set_state(WorkerStatus.IDLE)
        self.procline("Listening on " + ",".join(self.queue_names()))
        idle_since = time.monotonic()
        while self.go_on():
            self._beat()
            if self.should_run_maintenance_tasks:
                self.run_maintenance_tasks()
            if not self.burst:
                self.upkeep.tick(self.go_on)
            found = self._take()
            if found is not None:
                return found
            if timeout is None and not self._pause_seconds:
                return None
            if max_idle_time is not None and time.monotonic() - idle_since >= max_idle_time:
                return None
            self._pause(self._pause_seconds or IDLE_POLL_SECONDS)
        return None

    def _take(self):
        """(job, queue) of the job now held, or None (every queue empty, or Redis refused)."""
        try:
            taken = holding.take([queue.key for queue in self._ordered_queues])
            self._pause_seconds = 0.0
        except RedisError as error:
            self._refused("take a job", error)
            return None
        if taken is None:
            return None
        self.held = taken.job_id
        queue = next(queue for queue in self._ordered_queues if queue.key == taken.queue_key)
        try:
            job = self.job_class.fetch(taken.job_id, connection=self.connection, serializer=self.serializer)
        except NoSuchJobError:  # deleted while it waited: nothing to run
            self._give_back_held()
            return None
        except RedisError as error:
            self._give_back_held()
            self._refused("read a job", error)
            return None
        except Exception:  # a hash RQ cannot read would come back and stop the worker on every take
            logger.exception("dropped the job %s from its queue: its hash cannot be read (it is kept)", taken.job_id)
            holding.drop(taken.job_id)
            self.held = None
            return None
        self.reorder_queues(reference_queue=queue)
        job.redis_server_version = self.get_redis_server_version()
        self.log.info("Worker %s: %s: %s (%s)", self.name, queue.name, job.description, job.id)
        return job, queue

    def _refused(self, what: str, error: RedisError) -> None:
        """Redis did not answer, or refused a write (full, read-only): wait longer each time, up to
        LONGEST_PAUSE (REFUSED_PAUSE for a refusal); a full Redis gets the worker's reserve back and
        its upkeep at once."""
        away = isinstance(error, (ConnectionError, TimeoutError))
        if poison.full(error):
            self.upkeep.redis_full()
        elif not away and not poison.retriable(error):
            raise error
        self._pause_seconds = min(max(self._pause_seconds * 2, 1.0), LONGEST_PAUSE if away else REFUSED_PAUSE)
        logger.warning("worker %s could not %s (%s); trying again in %.0f s", self.name, what,
                       poison.describe(error), self._pause_seconds)  # fmt: skip

    # --- running a job -----------------------------------------------------------------------------
    def prepare_execution(self, job) -> Execution:
        """RQ's (rq.executions.prepare_execution), and in the same transaction the job leaves the held jobs."""
        with self.connection.pipeline() as pipe:
            execution = Execution.create(job, self.get_heartbeat_ttl(job), pipeline=pipe, worker_name=self.name)
            self.set_state(WorkerStatus.BUSY, pipeline=pipe)
            holding.queue_started(pipe, job.id)
            pipe.execute()
        self.executions[execution.id] = execution
        self.held = None
        return execution

    def execute_job(self, job, queue):
        close_old_connections()
        context.job_id.set(job.id)  # on every log record of this job (LOG_FORMAT=json)
        if job.func_name in registry.RENAMED:  # queued by the previous release
            job.func_name = registry.RENAMED[job.func_name]
        try:
            _forget_dead_executions(job)
            execution = self.prepare_execution(job)
        except RedisError as error:  # not started: it goes back to its queue, untouched
            self._state = WorkerStatus.IDLE
            self._give_back_held()
            context.clear()
            self._refused("start a job", error)
            return
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

    def handle_exception(self, job, *exc_info):
        """A fault the job's retries are there for (ClickHouse or Redis away) is one line per try, not
        RQ's traceback: an outage printed 40 lines a retry (issue 18). The last try, and any other
        error, is logged (and reported) as RQ does."""
        error = exc_info[1] if len(exc_info) > 1 else None
        if error is not None and poison.retriable(error) and job.should_retry and self._stopped_job_id != job.id:
            logger.warning("job %s failed (%s); next try in %d s, %d left", job.id, poison.describe(error),
                           job.get_retry_interval(), job.retries_left)  # fmt: skip
            return None
        return super().handle_exception(job, *exc_info)

    def handle_job_failure(self, job, queue, started_job_registry=None, exc_string="", execution=None):
        """RQ's, with a retry scheduled in one transaction with its status (storage/queue/retries.py). When a
        full Redis refuses it, the worker's reserve goes and it is tried once more; when Redis still
        refuses, the job stays started in its registry, and the clean-up retries it once its execution
        expires."""
        if self._stopped_job_id == job.id or not job.should_retry:
            return super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)
        retries_left = job.retries_left
        for attempt in (1, 2):
            job.retries_left = retries_left
            try:
                return self._schedule_retry(job, queue, execution, exc_string)
            except RedisError as error:
                full = poison.full(error)
                if full:
                    self.upkeep.redis_full()
                if attempt == 1 and full and reserve.give_back():
                    logger.warning("Redis is full: gave back the worker's reserve to schedule a retry")
                    continue
                logger.warning("job %s: its retry could not be scheduled (%s); it is retried once its "
                               "execution expires", job.id, poison.describe(error))  # fmt: skip
                return None

    def _schedule_retry(self, job, queue, execution, exc_string: str) -> None:
        with self.connection.pipeline() as pipe:
            # The error, for the health page while the job waits (RQ records one only on the last failure).
            error = exc_string[-RETRY_ERROR_CHARS:]
            Result.create_failure(job, RETRY_ERROR_TTL, error, worker_name=self.name, pipeline=pipe)
            self.cleanup_execution(job, pipeline=pipe, execution=execution)
            self.increment_failed_job_count(pipe)
            if job.started_at and job.ended_at:
                self.increment_total_working_time(job.ended_at - job.started_at, pipe)
            retries.queue_retry(job, queue, pipe)
            pipe.execute()

    def check_for_suspension(self, burst: bool):
        """RQ's beats in a transaction with its check, and a full Redis refuses every transaction, even
        one that only reads (its loop then quit): here the beat is a script Redis runs when full, and
        RQ's check runs only when an operator suspended the workers (`rq suspend`)."""
        self._beat()
        if self.connection.exists(WORKERS_SUSPENDED):  # alone: a full Redis refuses every MULTI, reads too
            super().check_for_suspension(burst)

    def register_birth(self):
        """RQ's; it refuses a name whose hash records no death, which is this process's own hash when
        a run could not record its death (Redis away or full): that one is replaced."""
        try:
            super().register_birth()
        except ValueError:
            pid, host = self.connection.hmget(self.key, "pid", "hostname")
            if (pid, host) != (str(self.pid).encode(), (self.hostname or "").encode()):
                raise
            self.connection.delete(self.key)
            super().register_birth()

    # --- Redis writes that may be refused ------------------------------------------------------------
    def set_state(self, state, pipeline=None):
        """RQ's; on its own (not in a transaction) a full or read-only Redis only leaves the state stale."""
        if pipeline is not None:
            return super().set_state(state, pipeline)
        try:
            super().set_state(state)
        except RedisError as error:
            _unless_refused(error)
            self._state = state

    def handle_execution_ended(self, job, queue, heartbeat_ttl):
        """RQ's; a full or read-only Redis only leaves the job's last beat stale (RQ's refused write
        used to end the worker's loop before the job's success or failure was even recorded)."""
        job.ended_at = now()
        try:
            job.heartbeat(now(), heartbeat_ttl)
        except RedisError as error:
            _unless_refused(error)

    def heartbeat(self, timeout=None, pipeline=None):
        """RQ's; on its own, one script that Redis runs even when full (lua/beat.lua)."""
        if pipeline is not None:
            return super().heartbeat(timeout, pipeline)
        self.last_heartbeat = now()
        ttl = timeout or self.worker_ttl + 60
        if not BEAT([self.key, self.executions_key], [utcformat(self.last_heartbeat), ttl], self.connection):
            self.register_birth()  # its hash expired (Redis away longer than its TTL): it registers again
        self._next_beat = time.monotonic() + HEARTBEAT_SECONDS

    def _beat(self) -> None:
        if time.monotonic() < self._next_beat:
            return
        try:
            self.heartbeat()
        except RedisError as error:
            logger.warning("worker %s could not beat (%s)", self.name, poison.describe(error))
            self._next_beat = time.monotonic() + HEARTBEAT_SECONDS

    # --- maintenance -------------------------------------------------------------------------------
    def clean_registries(self):
        """RQ's, with the abandoned jobs taken back by storage/queue/retries.py (RQ's Job.retry could lose them)."""
        for queue in self.queues:
            if not queue.acquire_maintenance_lock():
                continue  # another worker cleans this queue now
            try:
                retries.take_back_abandoned(queue)
                for registry in (FinishedJobRegistry, FailedJobRegistry, DeferredJobRegistry):
                    registry(queue=queue).cleanup()
                clean_worker_registry(queue)
            finally:
                queue.release_maintenance_lock()
        self.last_cleaned_at = now()  # type: ignore[assignment]  # rq types it as None

    def run_maintenance_tasks(self):
        """RQ's maintenance, then ours: held jobs of dead workers back on their queues, overdue
        scheduled jobs queued, the periodic RQ jobs scheduled. Each step on its own: one that fails
        (a Redis blip) is tried at the next tick; a stop ends the maintenance between two steps."""
        steps = (super().run_maintenance_tasks, holding.give_back_forgotten, schedule.ensure_periodic_jobs)
        for step in steps:
            if not self.go_on():
                return
            try:
                step()
            except Exception as error:  # the next tick tries again
                if poison.full(error):
                    self.upkeep.redis_full()
                logger.warning("maintenance: %s failed (%s)", getattr(step, "__name__", step), poison.describe(error))
        self.last_cleaned_at = now()  # type: ignore[assignment]  # rq types it as None
