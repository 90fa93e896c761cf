"""The RQ queues: their names (the one list), the jobs Spool enqueues, how job data is written,
retries, and the failed jobs an operator requeues. Every job Spool creates goes through here.

A batch of events becomes one `process_events` job per chunk of up to EVENTS_PER_JOB events.
"""
import zlib

import orjson
from django.conf import settings
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from storage import counters, keys, messages, redis

EVENTS = "events"
SESSIONS = "sessions"
DEFAULT = "default"
# Batches of a project sending more than its fair share (FAIR_SHARE_EVENTS_PER_MINUTE): a worker
# takes them when the other queues are empty, so one project's flood never delays the others'
# events (contract §11). Chosen per request by ingest/pipeline/admission.py.
BULK = "bulk"
# Every queue, in the order a worker listens to them (RQ takes from the first non-empty one).
# Settings, `manage.py runworker`, the scripts, the image and the tests all read this list.
# `sessions` comes first: it holds only the session sweep, short and due every 30 s, which behind a
# backlog of chunks would wait for the whole backlog and miss the 2-minute promise of session ends
# (contract §7, B6).
NAMES = (SESSIONS, EVENTS, DEFAULT, BULK)

# Jobs are named by dotted path (RQ's way). The names wait in Redis with the jobs, so a renamed
# function must keep its old name working until the queues have drained.
PROCESS_EVENTS = "ingest.worker.jobs.process_events"
DRAIN_EVENTS = "ingest.worker.jobs.drain_events"
DRAIN_PROFILE_CHANGES = "ingest.worker.jobs.drain_profile_changes"
STORE_REJECTED_SAMPLES = "ingest.worker.jobs.store_rejected_samples"
RUN_PERIODIC = "ingest.worker.schedule.run_periodic"
# Jobs that the previous release queued under names that have changed since: the worker runs them
# under their new names (ingest/worker/spool_worker.py), so a deploy loses none of them.
RENAMED = {
    "ingest.jobs.process_events": PROCESS_EVENTS,
    "ingest.jobs.drain_events": DRAIN_EVENTS,
    "ingest.jobs.drain_profile_changes": DRAIN_PROFILE_CHANGES,
    "ingest.jobs.store_rejected_samples": STORE_REJECTED_SAMPLES,
    "ingest.schedule.run_periodic": RUN_PERIODIC,
}

JOB_TIMEOUT = 300
FAILED_JOB_TTL = 30 * 86_400


def _loads(data):
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
    """RQ's Job, its data deflated at DATA_LEVEL (RQ reads any level)."""

    def to_dict(self, include_meta: bool = True, include_result: bool = True) -> dict:
        data = self.data
        self._data = b""  # RQ's to_dict deflates the data at level 6: give it nothing to deflate
        try:
            found = super().to_dict(include_meta=include_meta, include_result=include_result)
        finally:
            self._data = data
        found["data"] = zlib.compress(data, DATA_LEVEL)
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


def job_options() -> dict:
    return {"timeout": JOB_TIMEOUT, "result_ttl": 0, "failure_ttl": FAILED_JOB_TTL, "retry": _retry()}


def _describe(events: int) -> str:
    # Also how take_companions counts a waiting job's events without reading its data.
    return f"process_events({events} events)"


def enqueue_chunk(packets: list[messages.EventPacket], pipeline=None, lane: str = EVENTS):
    events = sum(len(packet["events"]) for packet in packets)
    # An explicit description: RQ's default is the repr() of the whole chunk (then cut to 75 chars).
    return queue(lane, SpoolJob).enqueue_call(
        PROCESS_EVENTS, args=(messages.chunk(packets),), description=_describe(events),
        pipeline=pipeline, **job_options(),
    )  # fmt: skip


# --- big blocks: a chunk job that writes the chunks waiting behind it --------------------------------
# A `process_events` job takes the chunk jobs waiting at the head of its queue into its own insert
# (ingest/worker/write.py). The jobs it takes move, in one script, from the queue to its companion
# list, which outlives the job: a run that fails puts them back at the head of the queue, and a run
# after its worker died finds them there and writes them again (ids collapse, sessions are
# idempotent per chunk id). Only when the block is written are they deleted.
_TAKE = """
local held = redis.call('LRANGE', KEYS[2], 0, -1)
if #held > 0 then return held end
local taken, events = {}, 0
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)) do
  local described = redis.call('HGET', ARGV[2] .. id, 'description')
  local count = described and tonumber(string.match(described, '^process_events%((%d+) events%)$'))
  if not count or events + count > tonumber(ARGV[1]) then break end
  events = events + count
  taken[#taken + 1] = id
end
if #taken > 0 then
  redis.call('LTRIM', KEYS[1], #taken, -1)
  redis.call('RPUSH', KEYS[2], unpack(taken))
end
return taken
"""
_GIVE_BACK = """
for i = #ARGV, 1, -1 do
  if redis.call('LREM', KEYS[2], 1, ARGV[i]) == 1 then redis.call('LPUSH', KEYS[1], ARGV[i]) end
end
return redis.call('LLEN', KEYS[2])
"""
MAX_COMPANIONS = 100


def take_companions(owner, events: int) -> list[str]:
    """Ids of the chunk jobs waiting at the head of `owner`'s queue, up to `events` events in all, now
    held by `owner` (or the ones it held already, when this is a re-run after its worker died)."""
    found = redis.script(_TAKE)(
        keys=[queue(owner.origin).key, keys.companions(owner.id)], args=[events, Job.key_for(""), MAX_COMPANIONS]
    )
    return [job_id.decode() for job_id in found]


def companion_chunks(owner, ids: list[str]) -> list[tuple[str, object]]:
    """(job id, chunk) of each companion job that can be read; the others go back to the tail of the
    queue, to run on their own as before (RQ fails a job it cannot read)."""
    found, unread = [], []
    for job_id, job in zip(ids, Job.fetch_many(ids, connection=redis.client(), serializer=JobSerializer)):
        try:
            if job is None or RENAMED.get(str(job.func_name), job.func_name) != PROCESS_EVENTS or len(job.args) != 1:
                raise ValueError("not a chunk job")
            found.append((job_id, job.args[0]))
        except Exception:
            unread.append(job_id)
    give_back_companions(owner, unread, to_tail=True)
    return found


def give_back_companions(owner, ids: list[str], to_tail: bool = False) -> None:
    """Put companion jobs of `owner` back on its queue: at the head in their order (or at the tail)."""
    if not ids:
        return
    key, held = queue(owner.origin).key, keys.companions(owner.id)
    if to_tail:
        with redis.client().pipeline(transaction=True) as pipe:
            for job_id in ids:
                pipe.lrem(held, 1, job_id)
            pipe.rpush(key, *ids)
            pipe.execute()
        return
    redis.script(_GIVE_BACK)(keys=[key, held], args=ids)


def finish_companions(owner, ids: list[str]) -> None:
    """The companions' rows are written: their jobs and the owner's list go."""
    with redis.client().pipeline(transaction=True) as pipe:
        for job_id in ids:
            pipe.delete(Job.key_for(job_id))
        pipe.delete(keys.companions(owner.id))
        pipe.execute()


def enqueue_events(ctx: messages.JobContext, events: list[messages.QueuedEvent], lane: str = EVENTS) -> int:
    """Queue events in chunks on `lane` (EVENTS or BULK); return how many were durably queued before
    Redis failed (if it did). Each chunk is counted as accepted in the transaction that queues it
    (storage/counters.py)."""
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
def _failed_registries():
    return [queue(name).failed_job_registry for name in NAMES]


def failed_jobs() -> list:
    """Jobs that used up their retries and wait in a failed registry, queue by queue, oldest first."""
    jobs = []
    for registry in _failed_registries():
        found = Job.fetch_many(registry.get_job_ids(), connection=registry.connection, serializer=registry.serializer)
        jobs += [job for job in found if job]
    return jobs


def events_in(job) -> int:
    """How many events a process_events job carries (0 for other jobs)."""
    if job.func_name != PROCESS_EVENTS or not job.args:
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
