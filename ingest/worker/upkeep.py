"""The worker's own upkeep (contract §7 r3): the session sweep and the buffer drains, run from every
worker's loop instead of as RQ jobs, by one worker at a time across hosts.

At maxmemory Redis refuses what an RQ job needs before it runs (its hash, the scheduler's move, the
worker's registration and heartbeat), so a sweep queued as a job never ran and the memory it would
have freed stayed taken. The upkeep needs none of that. Its order frees before it writes: it deletes
the worker's memory reserve when Redis is full (storage/redis/reserve.py), takes a lease that Redis grants
even then (storage/redis/client.py Lease), runs the sweep, whose scripts delete a session's state before
they write its marker, then the drains; last, it makes the reserve again once Redis has room.
"""
import logging
import time
from collections.abc import Callable

from redis.exceptions import RedisError

from ingest.worker import registry, schedule
from storage.queue import poison
from storage.redis import client as redis
from storage.redis import keys, reserve

logger = logging.getLogger(__name__)

LEASE_MS = 30_000  # renewed between the tasks and the sweep's rounds; a dead holder blocks others for this long
CHECK_SECONDS = 1.0  # how often a worker looks whether a task is due (one Redis call)


class Upkeep:
    def __init__(self) -> None:
        self.lease = redis.Lease(keys.UPKEEP_LEASE, LEASE_MS)
        self.next_check = 0.0
        self.ran: dict[str, float] = {}  # this process's own last runs, for when Redis cannot record them
        self.full = False  # Redis refused a write for lack of memory since the last round

    def redis_full(self) -> None:
        """Something met Redis at maxmemory: the next round comes at once and gives the reserve back."""
        self.full = True
        self.next_check = 0.0

    def tick(self, go_on: Callable[[], bool], now: float | None = None) -> None:
        """Run the tasks that are due, when it is time to look and this worker wins the lease."""
        now = time.time() if now is None else now
        if now < self.next_check:
            return
        self.next_check = now + CHECK_SECONDS
        try:
            self._round(go_on, now)
        except RedisError as error:  # Redis away or refusing: the next check tries again
            logger.warning("upkeep: Redis refused or did not answer (%s)", poison.describe(error))

    def _round(self, go_on: Callable[[], bool], now: float) -> None:
        memory = redis.client().info("memory")
        used, max_memory = memory.get("used_memory", 0), memory.get("maxmemory", 0)
        if self.full or (max_memory and used >= max_memory):
            if reserve.give_back():
                logger.warning("Redis is full (%d of %d bytes): gave back the worker's reserve", used, max_memory)
        self.full = False
        if not self.lease.hold():
            return  # another worker runs the upkeep now
        try:
            self._run_due(lambda: go_on() and self.lease.hold(), now)
            reserve.keep(used, max_memory)
        finally:
            self.lease.release()

    def _run_due(self, go_on: Callable[[], bool], now: float) -> None:
        runs = schedule.last_runs()
        for task in registry.periodic_tasks().values():
            if task.queue is not registry.UPKEEP:
                continue
            last = max(self.ran.get(task.name, 0.0), runs.get(task.name, {}).get("at", 0.0))
            if now - last < task.every:
                continue
            if not go_on():
                return
            self.ran[task.name] = now
            try:
                schedule.run(task, go_on)
            except Exception as error:  # logged; the other tasks still run, and this one at its next turn
                if poison.full(error):
                    self.redis_full()
                logger.warning("upkeep: %s failed (%s)", task.name, poison.describe(error))
