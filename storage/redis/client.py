"""The shared Redis client and the mechanisms every caller uses on it: Lua scripts, locks and leases."""
import functools
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from django_redis import get_redis_connection
from redis.exceptions import NoScriptError

T = TypeVar("T")


def client():
    """The shared Redis client (django-redis' pool; RQ uses the same connection)."""
    return get_redis_connection("default")


_scripts: dict = {}


def script(source: str):
    """A Lua script registered on the current Redis client (loaded once; run by its SHA)."""
    redis = client()
    found = _scripts.get(source)
    if found is None or found.registered_client is not redis:
        found = _scripts[source] = redis.register_script(source)
    return found


@functools.cache
def _read(path: Path) -> str:
    return path.read_text()


def lua(folder: Path, name: str):
    """The script `folder/<name>.lua`, registered on the current Redis client."""
    return script(_read(folder / f"{name}.lua"))


_LUA = Path(__file__).parent / "lua"


def queue_script(pipe, source: str, keys: list, args: list) -> None:
    """Queue a script on a pipeline run by `read_pipeline`, by its SHA alone. redis-py's own way
    (`script(...)(client=pipe)`) sends SCRIPT EXISTS before every such pipeline: one more round
    trip per request (issue 13)."""
    pipe.evalsha(script(source).sha, len(keys), *keys, *args)


def read_pipeline(queue: Callable[[object], T]) -> tuple[T, list]:
    """Run the commands `queue(pipe)` puts on a pipeline (no transaction): (what it returned, the
    replies). When Redis has lost a script queued with `queue_script` (a restart, SCRIPT FLUSH),
    that script did nothing: the scripts are loaded and the pipeline runs again. So its other
    commands must be reads, which may run twice."""
    for attempt in (1, 2):
        with client().pipeline(transaction=False) as pipe:
            queued = queue(pipe)
            try:
                return queued, pipe.execute()
            except NoScriptError:
                if attempt == 2:
                    raise
        for found in list(_scripts.values()):
            client().script_load(found.script)
    raise AssertionError("unreachable")


def _release(key: str, token: str) -> bool:
    """Release `key` if `token` holds it (lua/release_lock.lua)."""
    return bool(lua(_LUA, "release_lock")(keys=[key], args=[token]))


@contextmanager
def lock(key: str, ms: int, wait_ms: int = 0):
    """Hold `key` as a lock for this block, at most `ms`; yields whether it was won (trying for up
    to `wait_ms` first).

    Only the winner releases it, and only while it still holds it (one atomic script): a holder
    that outlived `ms` leaves the next holder's lock alone.
    """
    redis = client()
    token = uuid.uuid4().hex
    deadline = time.monotonic() + wait_ms / 1000
    won = bool(redis.set(key, token, nx=True, px=ms))
    while not won and time.monotonic() < deadline:
        time.sleep(0.002)
        won = bool(redis.set(key, token, nx=True, px=ms))
    try:
        yield won
    finally:
        if won:
            _release(key, token)


class Lease:
    """A lock held for `ms` and renewed by its holder while it works, which Redis grants even when it is
    full (lua/hold_lease.lua): the worker's upkeep, which frees Redis, must be able to run then."""

    def __init__(self, key: str, ms: int):
        self.key, self.ms, self.token = key, ms, uuid.uuid4().hex

    def hold(self, ms: int | None = None) -> bool:
        """Take the lease, or renew it when it is ours (for `ms`, else its own length): whether we hold it."""
        return bool(lua(_LUA, "hold_lease")(keys=[self.key], args=[self.token, ms or self.ms]))

    def release(self) -> None:
        _release(self.key, self.token)
