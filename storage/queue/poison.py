"""Items the worker cannot process (contract §7 r2): set aside with their error, kept for operators,
never in the way of what is queued behind them.

Every buffer and queue tells the two kinds of failure apart. A *retriable* error says a service is
away or busy (Redis, ClickHouse, the database): the item stays where it is and the job is retried,
so an outage delays work and loses none. Any other error says the item itself is wrong: it is set
aside in the Redis list `spool:set_aside:{source}` (no expiry), where `manage.py set_aside` and the
admin show it, and the next item goes on.
"""
import json
import time

import orjson
from django.db import InterfaceError, OperationalError
from redis.client import Pipeline
from redis.exceptions import (
    BusyLoadingError,
    ClusterDownError,
    DataError,
    MasterDownError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TryAgainError,
)

from contract import messages
from storage.clickhouse import client as clickhouse
from storage.redis import client as redis
from storage.redis import counters, keys

SOURCES = ("events", "profiles", "rejected", "chunks")
COUNTED = ("events", "profiles")  # rows and changes; a sample set aside is of a row counted already
CODE = "set_aside"
ERROR_CHARS = 2_000


class Retriable(Exception):
    """Raised by our own code when a service is busy (a lock held too long): retry, do not set aside."""


_RETRIABLE = (Retriable, RedisError, OperationalError, InterfaceError, *clickhouse.UNAVAILABLE)
# How Redis says it cannot take a command now: full, loading, a replica, failing over. redis-py 8 strips
# the code from the message and keeps it in `status_code` (an OutOfMemoryError's message is "command not
# allowed when used memory > 'maxmemory'."), and raises its own classes for some of them.
_BUSY_CODES = ("OOM", "BUSY", "LOADING", "READONLY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS")
_BUSY_CLASSES = (OutOfMemoryError, ReadOnlyError, BusyLoadingError, TryAgainError, MasterDownError, ClusterDownError)
_FULL = "command not allowed when used memory"


def _code(error: ResponseError) -> str:
    """The reply's code (OOM, READONLY, ...): redis-py's `status_code`, else the message's first word."""
    found = getattr(error, "status_code", None)
    return found or (str(error).split(" ", 1) or [""])[0]


def full(error: BaseException) -> bool:
    """Whether `error` is Redis refusing a write at maxmemory (the worker then gives its reserve back)."""
    return isinstance(error, OutOfMemoryError) or (isinstance(error, ResponseError) and _FULL in str(error))


def retriable(error: BaseException) -> bool:
    """Whether `error` says a service is away or busy (retry the item) rather than that the item is wrong."""
    if isinstance(error, ResponseError):
        # Redis answered. A script that failed on what it read, or a key of another type, fails the
        # same way every time; a full, loading or read-only Redis does not.
        return isinstance(error, _BUSY_CLASSES) or _code(error) in _BUSY_CODES or full(error)
    if isinstance(error, DataError):  # redis-py refused a value before sending it
        return False
    return isinstance(error, _RETRIABLE)


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:ERROR_CHARS]


def text(item: object) -> str:
    """An item as JSON text, whatever it holds (numbers beyond 64 bits, lone surrogates, raw bytes)."""
    if isinstance(item, bytes):
        return item.decode("utf-8", "replace")
    try:
        return orjson.dumps(item).decode()
    except (TypeError, orjson.JSONEncodeError):
        try:
            return json.dumps(item, default=repr)
        except (ValueError, RecursionError):
            return repr(item)[:65_536]


def entry(source: str, item: object, error: BaseException, project_id: str = "") -> messages.SetAside:
    newer = error.version if isinstance(error, messages.UnknownFormat) else 0
    now_ms = int(time.time() * 1000)
    return messages.set_aside(source, text(item), describe(error), project_id or "", now_ms, newer_format=newer)


def queue_put(pipe: Pipeline, entries: list[messages.SetAside]) -> None:
    """Set the entries aside on `pipe`; the events and profile changes among them are also counted as
    rejected rows of their project's day (code `set_aside`), beside the API's rejections."""
    counted: dict[tuple[str, str], int] = {}
    for found in entries:
        pipe.rpush(keys.set_aside(found["source"]), orjson.dumps(found))
        if found["project_id"] and found["source"] in COUNTED:
            day = counters.day_of(found["at_ms"])
            counted[(found["project_id"], day)] = counted.get((found["project_id"], day), 0) + 1
    for (project_id, day), count in counted.items():
        counters.add_worker_rejected(pipe, project_id, day, "internal", CODE, count)


def put(entries: list[messages.SetAside]) -> None:
    if not entries:
        return
    with redis.client().pipeline(transaction=True) as pipe:
        queue_put(pipe, entries)
        pipe.execute()


def counts() -> dict[str, int]:
    """{source: items set aside} for every source (0 included)."""
    with redis.client().pipeline(transaction=False) as pipe:
        for source in SOURCES:
            pipe.llen(keys.set_aside(source))
        return dict(zip(SOURCES, pipe.execute()))


def _read(raw: bytes) -> messages.SetAside:
    try:
        return messages.read_set_aside(orjson.loads(raw))
    except (orjson.JSONDecodeError, messages.Malformed):
        return messages.set_aside("?", raw.decode("utf-8", "replace"), "unreadable entry", "", 0)


def listed(source: str, limit: int = 1_000) -> list[messages.SetAside]:
    """The oldest `limit` items set aside from `source`."""
    return [_read(raw) for raw in redis.client().lrange(keys.set_aside(source), 0, limit - 1)]


def listed_from(source: str, project_ids: set[str], limit: int, scan: int) -> tuple[list[messages.SetAside], int, bool]:
    """What `source` set aside from these projects, among its oldest `scan` items: (the first
    `limit` of them, how many there are, whether that was the whole list). Read in pages of 100, so
    a long list costs `scan` items at most (the admin's view for a project's own admins)."""
    client = redis.client()
    key = keys.set_aside(source)
    found: list[messages.SetAside] = []
    count = seen = 0
    while seen < scan:
        size = min(100, scan - seen)
        page = client.lrange(key, seen, seen + size - 1)
        for raw in page:
            entry = _read(raw)
            if entry["project_id"] in project_ids:
                count += 1
                if len(found) < limit:
                    found.append(entry)
        seen += len(page)
        if len(page) < size:
            return found, count, True
    return found, count, client.llen(key) <= scan


def take(source: str, ids: set[str] | None = None) -> list[messages.SetAside]:
    """Remove and return the items of `source` with these ids (all of them when `ids` is None)."""
    client = redis.client()
    key = keys.set_aside(source)
    taken = []
    with client.pipeline(transaction=True) as pipe:
        for raw in client.lrange(key, 0, -1):
            found = _read(raw)
            if ids is None or found["id"] in ids:
                pipe.lrem(key, 1, raw)
                taken.append(found)
        pipe.execute()
    return taken
