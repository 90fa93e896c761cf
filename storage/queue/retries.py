"""A failed job's next attempt, scheduled so that a write Redis refuses cannot lose the job (issue 17).

RQ's `Job.retry` writes the status SCHEDULED at once and schedules the job in the caller's
transaction. When Redis refused that transaction (at maxmemory), the job was marked scheduled, in no
scheduled registry, and still listed as started; RQ's clean-up of abandoned jobs takes back only
jobs still STARTED, so it dropped the entry and the job was never run again (1,500 of 6,000 accepted
events lost in the measurement). Here the status travels in the transaction with everything else:
a refused transaction leaves the job STARTED in its registry, and `take_back_abandoned` retries it
once its execution expires, as it does for a job whose worker died.
"""
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from redis.client import Pipeline
from redis.exceptions import RedisError
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.job_lifecycle import record_job_failure

logger = logging.getLogger(__name__)


def queue_retry(job: Job, rq_queue: Queue, pipe: Pipeline) -> None:
    """On the transaction `pipe`: the job's next attempt (its retries must not be spent)."""
    interval = job.get_retry_interval()
    job.retries_left = cast(int, job.retries_left) - 1  # retried only while it has retries left
    if interval:
        # schedule_job writes the status SCHEDULED on the pipeline, with the job and its registry entry.
        rq_queue.schedule_job(job, datetime.now(UTC) + timedelta(seconds=interval), pipeline=pipe)
    else:
        rq_queue._enqueue_job(job, pipeline=pipe, at_front=job.enqueue_at_front_on_retry)


def _lost_by_a_refused_retry(job: Job, rq_queue: Queue) -> bool:
    """A job an earlier release marked SCHEDULED without scheduling it (the refused transaction above)."""
    return job.get_status(refresh=False) == JobStatus.SCHEDULED and rq_queue.connection.zscore(
        rq_queue.scheduled_job_registry.key, job.id
    ) is None


def take_back_abandoned(rq_queue: Queue, now: float | None = None) -> int:
    """Retry (or, with no retries left, fail) the jobs of `rq_queue` whose execution expired: their
    worker died, or Redis refused what their failure wrote. Each in one transaction with its removal
    from the started registry. Replaces RQ's StartedJobRegistry.cleanup. Returns how many."""
    registry = rq_queue.started_job_registry
    connection: Any = rq_queue.connection  # redis-py replies: see storage.redis.client.client
    now = time.time() if now is None else now
    taken = 0
    for entry in connection.zrangebyscore(registry.key, 0, now):
        job_id = registry.parse_job_id(entry)
        try:
            job = Job.fetch(job_id, connection=connection, serializer=rq_queue.serializer)
        except NoSuchJobError:
            job = None
        with connection.pipeline() as pipe:
            pipe.zrem(registry.key, entry)
            outcome = _queue_outcome(job, rq_queue, pipe, now)
            try:
                pipe.execute()
            except RedisError as error:  # refused (a full Redis): the entry stays for the next clean-up
                logger.warning("could not take back the abandoned job %s: %s", job_id, error)
                continue
        if outcome:
            logger.warning("took back the abandoned job %s: %s", job_id, outcome)
            taken += 1
    return taken


def _queue_outcome(job: Job | None, rq_queue: Queue, pipe: Pipeline, now: float) -> str:
    """Queue the retry or the failure of an abandoned job on `pipe`; "" when it was not abandoned."""
    if job is None:
        return ""
    if job.get_status(refresh=False) != JobStatus.STARTED and not _lost_by_a_refused_retry(job, rq_queue):
        return ""  # finished, failed or retried already: only its registry entry was left
    if job.retries_left:
        queue_retry(job, rq_queue, pipe)
        return "retried"
    record_job_failure(job, f"abandoned: its worker died or its failure was not recorded (at {now:.0f})", pipe)
    return "failed"
