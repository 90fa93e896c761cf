"""The worker's reserve of Redis memory (issue 17): a key of `size()` bytes that the worker keeps while
Redis has room and deletes as soon as Redis is full.

At maxmemory Redis refuses every write that adds data (`OOM command not allowed when used memory >
'maxmemory'`), and among them are the few writes the worker needs in order to free memory: registering
a job as started, scheduling a retry, a drain's bookkeeping. A DEL is always accepted, so deleting the
reserve makes that room, whatever filled Redis. It is made again only once Redis is below the API's
high-water mark with room to spare, so that it never pushes the API over its mark. Without a
maxmemory it is kept too (1 MiB): an operator may set one later, below what Redis holds.
"""
from django.conf import settings

from storage.redis import client as redis
from storage.redis import keys

SMALLEST, LARGEST, UNBOUNDED = 64 * 1024, 8 * 1024**2, 1024**2


def size(max_memory: int) -> int:
    """1% of maxmemory, 64 KiB to 8 MiB; 1 MiB without a maxmemory."""
    return min(LARGEST, max(SMALLEST, max_memory // 100)) if max_memory else UNBOUNDED


def mark(max_memory: int) -> int:
    """The API's high-water mark in bytes (contract §11): REDIS_HIGH_WATER_MARK, never above maxmemory
    minus the workers' reserve (REDIS_WORKER_RESERVE); 0 when Redis has neither a mark nor a maxmemory.
    The same rule as ingest/pipeline/lua/admit.lua, which computes it from the same settings."""
    found = int(settings.REDIS_HIGH_WATER_BYTES or max_memory * settings.REDIS_HIGH_WATER_SHARE)
    if max_memory:
        workers = int(settings.REDIS_WORKER_RESERVE_BYTES or max_memory * settings.REDIS_WORKER_RESERVE_SHARE)
        if found <= 0 or found > max_memory - workers:
            found = max_memory - workers
    return found


def keep(used_memory: int, max_memory: int) -> bool:
    """Make the reserve when it is missing and Redis has room for it twice over below the mark.
    Returns whether a reserve exists now."""
    wanted = size(max_memory)
    client = redis.client()
    if client.exists(keys.MEMORY_RESERVE):
        return True
    if max_memory and used_memory + 2 * wanted >= mark(max_memory):
        return False
    client.setrange(keys.MEMORY_RESERVE, wanted - 1, b"\0")  # Redis allocates the bytes itself
    return True


def give_back() -> bool:
    """Delete the reserve (Redis is full). Returns whether there was one."""
    return bool(redis.client().delete(keys.MEMORY_RESERVE))
