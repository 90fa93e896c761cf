"""The shared Redis client and the mechanisms every caller uses on it: Lua scripts, locks and leases."""
import functools
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from django_redis import get_redis_connection
from redis import Redis
from redis.client import Pipeline
from redis.commands.core import Script as RedisScript
from redis.exceptions import NoScriptError

T = TypeVar("T")
R = TypeVar("R")


def client() -> Any:  # redis-py types a reply as a union of every kind: Any spares each caller a cast
    """The shared Redis client (django-redis' pool; RQ uses the same connection)."""
    return get_redis_connection("default")


_scripts: dict = {}


def script(source: str) -> RedisScript:
    """A Lua script registered on the current Redis client (loaded once; run by its SHA)."""
    redis = client()
    found = _scripts.get(source)
    if found is None or found.registered_client is not redis:
        found = _scripts[source] = redis.register_script(source)
    return found


@functools.cache
def _read(path: Path) -> str:
    return path.read_text()


@dataclass(frozen=True)
class Script(Generic[R]):
    """A Lua script: the file `lua/<name>.lua` beside the module that owns it (`owner`, its __file__),
    which starts with a header naming its KEYS and ARGV and asserts their count; the files of the Lua
    functions it calls (`uses`), sent before it; and the reader of its reply (a NamedTuple's reader,
    or int / bool for one value), so that no caller reads a reply by position. The owner calls it
    through one typed function of its own."""

    owner: str
    name: str
    reply: Callable[[Any], R]
    uses: tuple[Path, ...] = ()

    @property
    def path(self) -> Path:
        return Path(self.owner).parent / "lua" / f"{self.name}.lua"

    @functools.cached_property
    def source(self) -> str:
        # Once: the same string object each call, so that finding its registered script costs no hashing.
        return "\n".join(_read(path) for path in (*self.uses, self.path))

    def __call__(self, keys: Sequence[str], args: Sequence[Any], connection: Redis | None = None) -> R:
        """Run it now (loaded once, run by its SHA), on the shared client or `connection`, and read its reply."""
        return self.reply(script(self.source)(keys=list(keys), args=list(args), client=connection))

    def on(self, pipe: Pipeline, keys: Sequence[str], args: Sequence[Any]) -> None:
        """Queue it on `pipe` (redis-py loads it before the pipeline runs); read its reply with `reply`."""
        script(self.source)(keys=list(keys), args=list(args), client=pipe)

    def queue(self, pipe: Pipeline, keys: Sequence[str], args: Sequence[Any]) -> None:
        """Queue it by its SHA alone, on a pipeline that `read_pipeline` runs."""
        queue_script(pipe, self.source, list(keys), list(args))


def queue_script(pipe: Pipeline, source: str, keys: list, args: list) -> None:
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


RELEASE_LOCK = Script(__file__, "release_lock", bool)
HOLD_LEASE = Script(__file__, "hold_lease", bool)


def _release(key: str, token: str) -> bool:
    """Release `key` if `token` holds it (lua/release_lock.lua)."""
    return RELEASE_LOCK([key], [token])


@contextmanager
def lock(key: str, ms: int, wait_ms: int = 0) -> Iterator[bool]:
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
        return HOLD_LEASE([self.key], [self.token, ms or self.ms])

    def release(self) -> None:
        _release(self.key, self.token)
