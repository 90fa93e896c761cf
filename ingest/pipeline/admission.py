"""Admission control (contract §11): may this request's events be queued at all, and in which lane?

One Lua function (lua/admit.lua), run inside the request's one Redis round trip before anything of it
is queued, decides:
1. Redis's memory is above the high-water mark → Overloaded (503). The mark is at most maxmemory
   minus the workers' reserve (REDIS_WORKER_RESERVE): the workers' own writes, never refused, use
   the rest. Redis reads its own memory (INFO) at most every 250 ms for all web processes together.
2. A single event equal to one seen in the last 100 ms → a duplicate (contract §6.3), which costs no
   quota. The guard is set only for an admitted event: a refused one may be sent again at once.
3. The project's token bucket (events per minute, with a burst) cannot pay the request's cost →
   QuotaExceeded (429, Retry-After: seconds until it can). The cost is its events, or its
   decompressed bytes / QUOTA_BYTES_PER_EVENT when that is more (r3: bytes are charged too). A
   request larger than the burst is admitted when the bucket is full, and leaves it in debt.
4. The project's budget of new live devices (NEW_DEVICES_PER_MINUTE): a device with no live session
   whose event would start one holds Redis state until its session ends → QuotaExceeded beyond it.
5. The lane: a second bucket at FAIR_SHARE_EVENTS_PER_MINUTE; the events of a request it cannot pay
   for go to the `bulk` queue, which workers take after every other project's events.

Before the body is read (`refuse_from_headers`): every answer of the script tells this process how
much the bucket had left (ingest/pipeline/budget.py); a project with nothing left by that reading is
refused from its headers alone, and one whose parsed request costs more than is left is refused
before any work per item. A process that has no reading for the project asks Redis (peek mode).
A body that was read but not admitted (refused, too large, not JSON, a gzip bomb) is charged all
the same (`charge`), so that whatever a project sends is paid from its own budget.
"""
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from redis.client import Pipeline
from redis.exceptions import RedisError

from ingest.pipeline import budget
from projects.auth import ProjectContext
from storage.queue import queues
from storage.redis import client as redis
from storage.redis import keys

OVERLOADED_RETRY_SECONDS = 5
FAIR_SHARE_BURST = 10_000  # events a project may send at once before its batches go to the bulk lane
ADMIT, PEEK, CHARGE = 0, 1, 2  # admit.lua's modes
ADMITTED, OVER_MARK, OVER_QUOTA, DUPLICATE, OVER_DEVICES = 0, 1, 2, 3, 5
# The admission function (lua/admit.lua), sent before each script that calls it.
ADMIT_LUA = Path(__file__).parent / "lua" / "admit.lua"


class QuotaExceeded(Exception):
    """The project has sent more than its quota or device budget allows: nothing was accepted (429)."""

    def __init__(self, message: str, wait: int):
        super().__init__(message)
        self.wait = wait  # seconds: Retry-After


class Busy(Exception):
    """The project already has PROJECT_REQUESTS_IN_FLIGHT requests in a web process: this one waits
    (429). The web server answers it from the request's headers (config/web_worker.py); the error
    table lists it for the OpenAPI document."""

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


@dataclass(frozen=True, slots=True)
class Verdict:
    """The first four values of every admission reply (lua/admit.lua)."""

    code: int
    wait_ms: int
    lane: int
    tokens: int  # what the project's bucket had left after this decision

    @classmethod
    def of(cls, reply: list) -> "Verdict":
        code, wait_ms, lane, tokens = (int(value or 0) for value in reply[:4])
        return cls(code, wait_ms, lane, tokens)


REQUEST = redis.Script(__file__, "request", Verdict.of, uses=(ADMIT_LUA,))


def cost(project: ProjectContext, events: int, body_bytes: int) -> int:
    """What a request costs the quota: its events, or its bytes in events when that is more."""
    return max(events, math.ceil(body_bytes / settings.QUOTA_BYTES_PER_EVENT))


def _quota_message(project: ProjectContext, events: int, wait: int) -> str:
    quota = f"over the project's quota of {project.quota_per_minute} events a minute (burst {project.quota_burst})"
    if not events:  # refused from its headers: the body was not read
        return f"{quota}: nothing is left; nothing was accepted, send it again in {wait} s"
    return f"{quota}: this request's {events} events were not accepted; send them again in {wait} s"


def _devices_message(wait: int) -> str:
    return (
        f"over the project's budget of {settings.NEW_DEVICES_PER_MINUTE} new devices a minute: this request "
        f"was not accepted; send it again in {wait} s"
    )


def _seconds(wait_ms: int) -> int:
    return max(1, math.ceil(wait_ms / 1000))


def args(project: ProjectContext, request_cost: int, quota: bool = True, mode: int = ADMIT) -> list:
    """admit.lua's A[1..12]."""
    return [
        request_cost,
        project.quota_per_minute if quota else 0,
        max(project.quota_burst, 1),
        settings.REDIS_HIGH_WATER_BYTES,
        settings.REDIS_HIGH_WATER_SHARE,
        settings.REDIS_WORKER_RESERVE_BYTES,
        settings.REDIS_WORKER_RESERVE_SHARE,
        max(settings.FAIR_SHARE_EVENTS_PER_MINUTE, 1),
        FAIR_SHARE_BURST,
        settings.NEW_DEVICES_PER_MINUTE if quota else 0,
        max(settings.NEW_DEVICES_BURST, 1),
        mode,
    ]


def reader(project: ProjectContext, events: int, quota: bool = True) -> Callable[[Verdict], Admission]:
    """The function that reads an admission reply: it tells this process what the bucket has left,
    and raises Overloaded or QuotaExceeded (a fresh exception each time: one kept and raised again
    would keep every refused request's frames in its traceback)."""

    def read(verdict: Verdict) -> Admission:
        if verdict.code == OVER_MARK:
            budget.overloaded(OVERLOADED_RETRY_SECONDS)
            raise Overloaded()
        if quota:
            budget.learn(project, verdict.tokens)
        if verdict.code == OVER_QUOTA:
            wait = _seconds(verdict.wait_ms)
            raise QuotaExceeded(_quota_message(project, events, wait), wait)
        if verdict.code == OVER_DEVICES:
            raise QuotaExceeded(_devices_message(_seconds(verdict.wait_ms)), _seconds(verdict.wait_ms))
        return Admission(lane=queues.BULK if verdict.lane else queues.EVENTS, duplicate=verdict.code == DUPLICATE)

    return read


def queue_check(
    pipe: Pipeline, project: ProjectContext, events: int, request_cost: int, devices: list[tuple[str, str]],
    quota: bool = True,
) -> Callable[[list], Admission]:
    """Queue the admission script on `pipe`, a pipeline run by `redis.read_pipeline` (first, so its
    reply comes first); return the function that reads its reply. `devices`: the (current salt,
    previous salt) device ids of the request's events that would start or join a live session."""
    script_keys = [keys.quota(project.id), keys.MEMORY_READING, ""]
    for current, previous in devices:
        script_keys += [keys.live_device(project.id, current), keys.live_device(project.id, previous)]
    REQUEST.queue(pipe, script_keys, args(project, request_cost, quota))
    read = reader(project, events, quota)
    return lambda reply: read(Verdict.of(reply))


def _call(project: ProjectContext, request_cost: int, mode: int) -> Verdict:
    """lua/request.lua on its own round trip, for a request with no devices to count (peek, charge)."""
    script_keys = [keys.quota(project.id), keys.MEMORY_READING, ""]
    return REQUEST(script_keys, args(project, request_cost, mode=mode))


def _refuse_if_short(project: ProjectContext, need: int, events: int) -> None:
    wait = budget.overloaded_wait()
    if wait:
        raise Overloaded(wait=wait)
    wait = budget.shortfall(project, need)
    if wait:
        raise QuotaExceeded(_quota_message(project, events, wait), wait)


def refuse_from_headers(project: ProjectContext) -> None:
    """Before the body is read: raise Overloaded when this process saw Redis over its mark less than
    its Retry-After ago, and QuotaExceeded when the project has nothing left (by this process's
    reading, or by Redis's when it has none)."""
    _refuse_if_short(project, 0, 0)
    if budget.left(project) is None:
        try:
            verdict = _call(project, 0, PEEK)
        except RedisError:
            return  # the request itself will meet Redis, and answer 503
        reader(project, 0)(verdict)
    _refuse_if_short(project, 1, 0)


def refuse_before_items(project: ProjectContext, events: int, request_cost: int) -> None:
    """Before any work per item: QuotaExceeded when the request costs more than the project has left
    by this process's reading (the bucket can only hold less: other processes spend from it too)."""
    _refuse_if_short(project, min(request_cost, max(project.quota_burst, 1)), events)


def charge(project: ProjectContext, body_bytes: int) -> None:
    """Charge a body that was read but not admitted to its project, in whole QUOTA_BYTES_PER_EVENT
    (never refused): a gzip bomb or an invalid 10 MiB body costs what a full batch costs, a small
    invalid event nothing, like a small refused one (its parse costs less than an event)."""
    request_cost = body_bytes // settings.QUOTA_BYTES_PER_EVENT
    if request_cost <= 0:
        return
    try:
        verdict = _call(project, request_cost, CHARGE)
    except RedisError:
        return  # the request failed anyway; its bytes go uncharged while Redis is away
    budget.learn(project, verdict.tokens)
