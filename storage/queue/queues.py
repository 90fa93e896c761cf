"""The RQ queues: their names (the one list), the jobs Spool enqueues, how job data is written,
retries, and the failed jobs an operator requeues. Every job Spool creates goes through here.

A batch of events becomes one `process_events` job per chunk of up to EVENTS_PER_JOB events.
"""
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from django.conf import settings
from redis.client import Pipeline
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from contract import jobs, messages
from storage.redis import client as redis
from storage.redis import counters

EVENTS = "events"
SESSIONS = "sessions"
DEFAULT = "default"
# Batches of a project sending more than its fair share (FAIR_SHARE_EVENTS_PER_MINUTE): a worker
# takes them when the other queues are empty, so one project's flood never delays the others'
# events (contract §11). Chosen per request by ingest/pipeline/admission.py.
BULK = "bulk"
# Every queue, in the order a worker listens to them (it takes from the first non-empty one).
# Settings, `manage.py runworker`, the scripts, the image and the tests all read this list.
# `sessions` held the session sweep, which every worker's loop now runs itself between two jobs
# (ingest/worker/upkeep.py), so that no backlog of chunks delays it (contract §7, B6) and a full Redis
# does not stop it. Nothing is queued on it any more; it stays so that the sweeps the release before
# queued there still run.
NAMES: tuple[str, ...] = (SESSIONS, EVENTS, DEFAULT, BULK)

JOB_TIMEOUT = 300
FAILED_JOB_TTL = 30 * 86_400


@dataclass(frozen=True)
class JobSpec:
    """A job by name (contract/jobs.py): the function that runs it, by the dotted path RQ stores with the
    job, where it waits and how long it may run. The worker's registry holds one per job."""

    name: str
    function: str
    queue: str = EVENTS
    timeout: int = JOB_TIMEOUT
    retried: bool = True  # retried at settings.JOB_RETRY_INTERVALS, then kept FAILED_JOB_TTL when failed


# Given by the worker's registry (ingest/worker/registry.py) when Django starts: storage names no
# function of an app. `_names` finds a job's name from the path it was queued under, an earlier
# release's path included.
_specs: dict[str, JobSpec] = {}
_names: dict[str, str] = {}


def use_jobs(specs: Iterable[JobSpec], renamed: Mapping[str, str]) -> None:
    """The job table this process enqueues by; `renamed`: {a path earlier releases queued: its path now}."""
    _specs.clear()
    _specs.update({found.name: found for found in specs})
    _names.clear()
    _names.update({found.function: found.name for found in _specs.values()})
    _names.update({old: _names[new] for old, new in renamed.items()})


def spec(name: str) -> JobSpec:
    """The job of that name (contract/jobs.py)."""
    try:
        return _specs[name]
    except KeyError:
        raise LookupError(f"no job named {name!r}: the worker's registry gives the table when Django starts") from None


def job_name(function: str | None) -> str | None:
    """The name of the job that a job queued with this function path runs (None for a path of no job)."""
    return _names.get(function or "")


def _loads(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:  # what only the stdlib reads (an integer beyond 64 bits)
        return JSONSerializer.loads(data)


class JobSerializer:
    """Job data as JSON, like rq's JSONSerializer, but written and read with orjson: about 10x faster
    on a 500-event chunk. Nothing queued holds an integer beyond 64 bits, which orjson refuses: the
    API reads every body's numbers as orjson does (ingest/pipeline/decode.py); a job that does is
    read by the stdlib."""

    dumps = staticmethod(orjson.dumps)

    loads = staticmethod(_loads)


# zlib's level for job data. RQ deflates at 6: on a 500-event chunk that cost ~2.8 µs an event of
# the API's CPU, level 3 ~1.3 µs, for ~5 more bytes an event waiting in Redis (B7; issue 13).
DATA_LEVEL = 3


class SpoolJob(Job):
    """RQ's Job, its data deflated at DATA_LEVEL (RQ reads any level), and its size as serialized kept
    beside it (`spool_bytes`: the bytes a block takes with it, storage/queue/blocks.py, known without decoding)."""

    def to_dict(self, include_meta: bool = True, include_result: bool = True) -> dict:
        data = self.data
        self._data = b""  # RQ's to_dict deflates the data at level 6: give it nothing to deflate
        try:
            found = super().to_dict(include_meta=include_meta, include_result=include_result)
        finally:
            self._data = data
        found["data"] = zlib.compress(data, DATA_LEVEL)
        found["spool_bytes"] = len(data)
        return found


_queues: dict[tuple[str, type[Job]], Queue] = {}


def queue(name: str = EVENTS, job_class: type[Job] = Job) -> Queue:
    """The RQ queue `name` on the shared Redis client (the same queue django-rq's pages and
    `rqworker` open from settings.RQ_QUEUES). Only chunk jobs are created as SpoolJob: everything
    else (registries, requeues, the worker) sees RQ's own Job, whose isinstance checks expect it."""
    connection = redis.client()
    found = _queues.get((name, job_class))
    if found is None or found.connection is not connection:
        found = Queue(
            name, connection=connection, serializer=JobSerializer, default_timeout=JOB_TIMEOUT, job_class=job_class
        )
        _queues[(name, job_class)] = found
    return found


def _retry() -> Retry:
    # Retries wait for an outage to pass (ClickHouse restarting, a network blip).
    intervals = settings.JOB_RETRY_INTERVALS
    return Retry(max=len(intervals), interval=intervals)


def job_options(name: str) -> dict:
    """RQ's options for a job of that name: its timeout, no result kept, and its retries."""
    found = spec(name)
    if not found.retried:
        return {"timeout": found.timeout, "result_ttl": 0}
    return {"timeout": found.timeout, "result_ttl": 0, "failure_ttl": FAILED_JOB_TTL, "retry": _retry()}


def enqueue(
    name: str, args: tuple = (), pipeline: Pipeline | None = None, lane: str | None = None, **options: Any
) -> Job:
    """Queue the job `name` with `args` on its queue (or on `lane`), with its options."""
    found = spec(name)
    return queue(lane or found.queue).enqueue_call(
        found.function, args=args, pipeline=pipeline, **job_options(name), **options
    )


def _describe(events: int) -> str:
    # Also how a block counts a waiting job's events without reading its data (storage/queue/lua/take_companions.lua).
    return f"process_events({events} events)"


def events_described(description: str) -> int:
    """The events a chunk job's description counts (0 for another description)."""
    found = re.fullmatch(r"process_events\((\d+) events\)", description)
    return int(found.group(1)) if found else 0


def enqueue_chunk(packets: list[messages.EventPacket], pipeline: Pipeline | None = None, lane: str = EVENTS) -> Job:
    events = sum(len(packet["events"]) for packet in packets)
    # An explicit description: RQ's default is the repr() of the whole chunk (then cut to 75 chars).
    found = spec(jobs.PROCESS_EVENTS)
    return queue(lane, SpoolJob).enqueue_call(
        found.function, args=(messages.chunk(packets),), description=_describe(events),
        pipeline=pipeline, **job_options(found.name),
    )  # fmt: skip


def enqueue_events(ctx: messages.JobContext, events: list[messages.QueuedEvent], lane: str = EVENTS) -> int:
    """Queue events in chunks on `lane` (EVENTS or BULK); return how many were durably queued before
    Redis failed (if it did). Each chunk is counted as accepted in the transaction that queues it
    (storage/redis/counters.py)."""
    size = settings.EVENTS_PER_JOB
    queued = 0
    for start in range(0, len(events), size):
        chunk = events[start : start + size]
        try:
            with redis.client().pipeline(transaction=True) as pipe:
                enqueue_chunk([messages.event_packet(ctx, chunk)], pipeline=pipe, lane=lane)
                counters.queue_accepted(pipe, ctx["project_id"], ctx["received_ms"], len(chunk))
                pipe.execute()
        except RedisError:
            return queued
        queued += len(chunk)
    return queued


# --- failed jobs (an operator's view: `manage.py failed_jobs`) --------------------------------------
def _failed_registries() -> list[FailedJobRegistry]:
    return [queue(name).failed_job_registry for name in NAMES]


def failed_jobs() -> list:
    """Jobs that used up their retries and wait in a failed registry, queue by queue, oldest first."""
    jobs = []
    for registry in _failed_registries():
        found = Job.fetch_many(registry.get_job_ids(), connection=registry.connection, serializer=registry.serializer)
        jobs += [job for job in found if job]
    return jobs


def retrying_jobs(limit: int) -> list[tuple[Job, float, str]]:
    """Jobs that failed and wait in a scheduled registry for their next attempt, each with the epoch
    time of that attempt and its last error (the worker records it with the retry), soonest first.
    Periodic runs wait there too; they have no failure and are left out. At most `limit` per queue."""
    found: list[tuple[Job, float, str]] = []
    for name in NAMES:
        registry = queue(name).scheduled_job_registry
        entries = registry.connection.zrange(registry.key, 0, limit - 1, withscores=True)
        ids = [entry.decode() for entry, _ in entries]
        jobs = Job.fetch_many(ids, connection=registry.connection, serializer=registry.serializer)
        for job, (_, due) in zip(jobs, entries):
            result = job.latest_result() if job is not None else None
            if job is not None and result is not None and result.type == result.Type.FAILED:
                found.append((job, float(due), result.exc_string or ""))
    return sorted(found, key=lambda entry: entry[1])


def events_in(job: Job) -> int:
    """How many events a process_events job carries (0 for other jobs)."""
    if job.func_name != spec(jobs.PROCESS_EVENTS).function or not job.args:
        return 0
    return sum(len(packet.get("events", ())) for packet in job.args[0].get("packets", ()))


def requeue_failed() -> int:
    """Put every failed job back on its queue with a fresh set of retries. Returns how many.

    Re-running a chunk writes each row once (ids are fixed in the job; contract §6.3).
    """
    count = 0
    for registry in _failed_registries():
        for job_id in registry.get_job_ids():
            try:
                job = Job.fetch(job_id, connection=registry.connection, serializer=registry.serializer)
            except NoSuchJobError:
                continue
            retry = _retry()
            job.retries_left, job.retry_intervals = retry.max, retry.intervals
            try:
                registry.requeue(job)
            except InvalidJobOperation:
                continue  # another operator requeued it first
            count += 1
    return count
