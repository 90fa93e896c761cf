"""Admission control (contract §11): may this request's events be queued at all, and in which lane?

One Lua script, queued on the request's one Redis round trip before anything of it is queued, decides:
1. Redis's memory is above the high-water mark → Overloaded (503). Redis reads its own memory (INFO)
   at most every 250 ms for all web processes together; workers never run this script, so they
   keep draining, and the API recovers by itself once they have.
2. A single event equal to one seen in the last 100 ms → a duplicate (contract §6.3), which costs no
   quota. The guard is set only for an admitted event: a refused one may be sent again at once.
3. The project's token bucket (events per minute, with a burst) cannot pay for the request's events
   → QuotaExceeded (429, Retry-After: seconds until it can). Counted in events: a batch of 2000
   costs 2000. A request larger than the burst is admitted when the bucket is full, and leaves it in
   debt; so a project never sends more than its rate over time, and never needs smaller batches.
4. The lane: a second bucket at FAIR_SHARE_EVENTS_PER_MINUTE; the events of a request it cannot pay
   for go to the `bulk` queue, which workers take after every other project's events.

A refusal is remembered in this process until its Retry-After: a client that does not wait has its
next requests of at least that size refused before any work per item, without Redis (`refuse_early`).
"""
import math
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from redis.exceptions import RedisError

from projects.auth import ProjectContext
from storage import keys, queues, redis

OVERLOADED_RETRY_SECONDS = 5
FAIR_SHARE_BURST = 10_000  # events a project may send at once before its batches go to the bulk lane
REMEMBERED_PROJECTS = 10_000

# The decision as a Lua function, so that the single-event script (ingest/pipeline/single.py) makes
# it in the same call. K: the project's buckets, the shared memory reading, the duplicate guard of a
# single event (false: none). A: events, rate per minute (0: no quota), burst, high-water bytes
# (0: use the share), high-water share of maxmemory (0: none), fair share per minute, fair burst.
# Returns {verdict, wait ms, lane}: verdict 0 admitted, 1 over the high-water mark, 2 over quota,
# 3 a duplicate; lane 0 the events queue, 1 the bulk queue.
ADMIT_FUNCTION = """
local function admit(K, A)
  local reading = redis.call('GET', K[2])
  if not reading then
    local info = redis.call('INFO', 'memory')
    reading = string.match(info, 'used_memory:(%d+)') .. ' ' .. string.match(info, 'maxmemory:(%d+)')
    redis.pcall('SET', K[2], reading, 'PX', 250)
  end
  local used, maxmemory = string.match(reading, '(%d+) (%d+)')
  used, maxmemory = tonumber(used), tonumber(maxmemory)
  local mark = tonumber(A[4])
  if mark == 0 then mark = maxmemory * tonumber(A[5]) end
  if mark > 0 and used >= mark then return {1, 0, 0} end
  if K[3] and redis.call('EXISTS', K[3]) == 1 then return {3, 0, 0} end

  local events, rate, burst = tonumber(A[1]), tonumber(A[2]), tonumber(A[3])
  local fair_rate, fair_burst = tonumber(A[6]), tonumber(A[7])
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
  local state = redis.call('HMGET', K[1], 'tokens', 'fair', 'at')
  local elapsed = math.max(0, now - (tonumber(state[3]) or now))
  local tokens = math.min(burst, (tonumber(state[1]) or burst) + elapsed * rate / 60000)
  local fair = math.min(fair_burst, (tonumber(state[2]) or fair_burst) + elapsed * fair_rate / 60000)
  if rate > 0 then
    local need = math.min(events, burst)
    if tokens < need then return {2, math.ceil((need - tokens) * 60000 / rate), 0} end
    tokens = tokens - events
  end
  local lane = 1
  if fair >= math.min(events, fair_burst) then
    fair = fair - events
    lane = 0
  end
  redis.call('HSET', K[1], 'tokens', tokens, 'fair', fair, 'at', now)
  local refill = (fair_burst - fair) * 60000 / fair_rate
  if rate > 0 then refill = math.max(refill, (burst - tokens) * 60000 / rate) end
  redis.call('PEXPIRE', K[1], math.ceil(refill) + 1000)
  if K[3] then redis.call('SET', K[3], 1, 'PX', 100) end
  return {0, 0, lane}
end
"""
ADMIT_ARGS = 7  # how many of ARGV the function takes
# KEYS: the project's buckets, the shared memory reading, [the duplicate guard]. ARGV: as above.
_ADMIT = ADMIT_FUNCTION + "return admit({KEYS[1], KEYS[2], KEYS[3] or false}, ARGV)"


class QuotaExceeded(Exception):
    """The project has sent more events than its quota allows: nothing was accepted (429)."""

    def __init__(self, message: str, wait: int):
        super().__init__(message)
        self.wait = wait  # seconds: Retry-After


class Busy(Exception):
    """The project already has BATCHES_IN_FLIGHT batches being handled: this one waits (429)."""

    wait = 1


class Overloaded(Exception):
    """Redis is above its high-water mark: nothing was accepted (503); the workers are draining."""

    def __init__(self, message: str = "", wait: int = OVERLOADED_RETRY_SECONDS):
        super().__init__(message or f"the event queue is full; nothing was accepted, retry after {wait} s")
        self.wait = wait


@dataclass(frozen=True, slots=True)
class Admission:
    lane: str = queues.EVENTS
    duplicate: bool = False


# Refusals remembered by this process: project id (or OVERLOADED for everyone) → (monotonic time
# until, the refused request's events, the refusal).
_refused: dict[str, tuple[float, int, QuotaExceeded | Overloaded]] = {}
OVERLOADED = "*"


def _remember(key: str, events: int, error: QuotaExceeded | Overloaded, wait_ms: int) -> None:
    if len(_refused) >= REMEMBERED_PROJECTS:
        _refused.clear()
    _refused[key] = (time.monotonic() + wait_ms / 1000, events, error)


def forget_refusals() -> None:
    _refused.clear()


def refuse_early(project: ProjectContext, events: int) -> None:
    """Before any work per item: raise the refusal this process gave, less than its Retry-After ago,
    to everyone (the high-water mark) or to this project for a request at least as large."""
    now = time.monotonic()
    for key in (OVERLOADED, project.id):
        until, refused_events, error = _refused.get(key, (0.0, 0, None))
        if error is None:
            continue
        if until <= now:
            _refused.pop(key, None)
        elif events >= refused_events:
            error.wait = max(1, math.ceil(until - now))
            raise error


def _quota_message(project: ProjectContext, events: int, wait: int) -> str:
    return (
        f"over the project's quota of {project.quota_per_minute} events a minute (burst {project.quota_burst}): "
        f"this request's {events} events were not accepted; send them again in {wait} s"
    )


def check_call(
    project: ProjectContext, events: int, quota: bool = True, duplicate_key: str = ""
) -> tuple[list[str], list, Callable[[object], Admission]]:
    """(keys, args) of the admission decision (ADMIT_FUNCTION), and the function that reads its
    reply and raises Overloaded or QuotaExceeded."""
    script_keys = [keys.quota(project.id), keys.MEMORY_READING] + ([duplicate_key] if duplicate_key else [])
    args = [
        events,
        project.quota_per_minute if quota else 0,
        max(project.quota_burst, 1),
        settings.REDIS_HIGH_WATER_BYTES,
        settings.REDIS_HIGH_WATER_SHARE,
        max(settings.FAIR_SHARE_EVENTS_PER_MINUTE, 1),
        FAIR_SHARE_BURST,
    ]

    def read(reply) -> Admission:
        verdict, wait_ms, lane = (int(value) for value in reply[:3])
        if verdict == 1:
            error: QuotaExceeded | Overloaded = Overloaded()
            _remember(OVERLOADED, 0, error, 1000)
            raise error
        if verdict == 2:
            wait = max(1, math.ceil(wait_ms / 1000))
            error = QuotaExceeded(_quota_message(project, events, wait), wait)
            _remember(project.id, events, error, wait_ms)
            raise error
        return Admission(lane=queues.BULK if lane else queues.EVENTS, duplicate=verdict == 3)

    return script_keys, args, read


def queue_check(pipe, project: ProjectContext, events: int, quota: bool = True) -> Callable[[object], Admission]:
    """Queue the admission script on `pipe`, a pipeline run by `redis.read_pipeline` (first, so its
    reply comes first); return the function that reads its reply and raises Overloaded or
    QuotaExceeded."""
    script_keys, args, read = check_call(project, events, quota)
    redis.queue_script(pipe, _ADMIT, script_keys, args)
    return read


# KEYS: the project's batches in flight. ARGV: a token for this batch, the limit, ms after which a
# batch counts as gone (its web process died). Returns 1 when the batch may go on.
_ENTER = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""
IN_FLIGHT_MS = 120_000  # far longer than any batch takes


class BatchSlot:
    """A batch's place among its project's batches in flight (batch_slot)."""

    def __init__(self, key: str, token: str):
        self.key, self.token = key, token
        self.given_back = False

    def give_back_on(self, pipe) -> None:
        """Queue the release on `pipe`, the transaction that queues the batch's last events, so that it
        costs no round trip of its own. The caller sets `given_back` once that transaction ran."""
        pipe.zrem(self.key, self.token)


@contextmanager
def batch_slot(project: ProjectContext) -> Iterator[BatchSlot]:
    """Hold one of the project's BATCHES_IN_FLIGHT places while a batch is handled, or raise Busy.

    A web process handles one request at a time, so a project flooding batches from many clients
    would hold every web process and make the other projects' requests wait (contract §11). Single
    events take milliseconds and are not counted. Raises RedisError (503) when Redis is away.
    The place is given back with the batch's last events (`BatchSlot.give_back_on`), or at the end.
    """
    slot = BatchSlot(keys.batches_in_flight(project.id), uuid.uuid4().hex)
    limit = settings.BATCHES_IN_FLIGHT
    if not redis.script(_ENTER)(keys=[slot.key], args=[slot.token, limit, IN_FLIGHT_MS]):
        raise Busy(f"the project already has {limit} batch(es) being handled; send this one again in 1 s")
    try:
        yield slot
    finally:
        if not slot.given_back:
            try:
                redis.client().zrem(slot.key, slot.token)
            except RedisError:
                pass  # counted as gone after IN_FLIGHT_MS
