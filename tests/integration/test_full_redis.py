"""A Redis at maxmemory (and a read-only one) recovers by itself and loses nothing (contract §7 r3;
issue 17, finding 3).

The errors are the real ones of a real Redis: full (`CONFIG SET maxmemory` just under what it holds,
noeviction) or read-only (`REPLICAOF` a master that is not there).
"""
import pytest
import redis
from django.test import override_settings
from rq import Queue
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from ingest.worker.write import process_chunk
from storage.clickhouse import client as clickhouse
from storage.queue import poison, queues
from storage.redis import keys
from tests.integration.test_faults import _exactly_once, _migrated, _post, _start, private_redis, stacks
from tests.support import stored
from tests.support.events import at, now_ms, track
from tests.support.live import free_port
from tests.support.servers import PrivateClickHouse, PrivateRedis
from tests.support.waiting import eventually

__all__ = ["private_redis", "stacks"]  # fixtures, used by name

HEADROOM = 64 * 1024  # maxmemory this far under what Redis holds: full, whatever it does next


def fill(client: redis.Redis) -> None:
    """maxmemory just under what Redis holds, once that has settled: Redis gives back a client's query
    buffer within a second of a big request (a batch here is a megabyte), which would leave room."""
    readings: list[int] = []

    def settled() -> bool:
        readings.append(client.info("memory")["used_memory"])
        return len(readings) >= 3 and max(readings[-3:]) - min(readings[-3:]) < HEADROOM // 2

    eventually(settled, 30, every=0.5, what="Redis memory to settle")
    client.config_set("maxmemory", readings[-1] - HEADROOM)
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        client.set("spool:test:probe", "x")


def read_only(client: redis.Redis) -> None:
    client.replicaof("127.0.0.1", free_port())  # a master that never answers: the data stays, writes are refused


def writable(client: redis.Redis) -> None:
    client.replicaof("NO", "ONE")
    client.config_set("maxmemory", 0)


def _refusals(client: redis.Redis) -> list[Exception]:
    """What redis-py raises for a write Redis refuses: alone, in a transaction, in a script."""
    found = []
    attempts = (
        lambda: client.set("spool:test:new", "x" * 100),
        lambda: client.pipeline(transaction=True).set("spool:test:new", 1).incr("spool:test:n").execute(),
        lambda: client.eval("redis.call('SET', KEYS[1], ARGV[1]) return 1", 1, "spool:test:new", "x"),
        lambda: client.register_script("return redis.call('RPUSH', KEYS[1], 'x')")(keys=["spool:test:list"]),
    )
    for attempt in attempts:
        with pytest.raises(redis.RedisError) as refused:
            attempt()
        found.append(refused.value)
    return found


def test_a_full_or_read_only_redis_is_a_fault_to_retry_never_poison():
    server = PrivateRedis().start("--maxmemory-policy", "noeviction")
    try:
        client = server.client()
        client.set("spool:test:ballast", b"x" * 2_000_000)
        fill(client)
        full = _refusals(client)
        writable(client)
        read_only(client)
        refused = _refusals(client)
        writable(client)
    finally:
        server.remove()
    for error in full + refused:
        assert poison.retriable(error), f"{type(error).__name__}: {error}"
    assert all(poison.full(error) for error in full)
    assert not any(poison.full(error) for error in refused)


@pytest.fixture
def own_redis(settings):
    """A private Redis as this process's Redis (the API client, the queues, the worker code)."""
    server = PrivateRedis().start("--maxmemory-policy", "noeviction")
    caches = {**settings.CACHES, "default": {**settings.CACHES["default"], "LOCATION": server.url()}}
    with override_settings(CACHES=caches):
        yield server
    server.remove()


@pytest.mark.parametrize("refuse", [fill, read_only], ids=["full", "read-only"])
def test_a_chunk_that_meets_a_refusing_redis_is_retried_not_set_aside(refuse, own_redis, project, api):
    events = [at("refused", now_ms() - 1_000, device=f"refused-{n}", i=n) for n in range(5)]  # live sessions
    assert api.post("/track/batch", {"events": events}, format="json").json()["accepted"] == 5
    [job] = queues.queue(queues.EVENTS).get_jobs()
    client = own_redis.client()
    refuse(client)
    with pytest.raises(redis.RedisError) as raised:
        process_chunk(job.args[0], now_ms(), job=None)
    writable(client)
    assert poison.retriable(raised.value)
    assert poison.counts() == {source: 0 for source in poison.SOURCES}  # nothing set aside
    process_chunk(job.args[0], now_ms(), job=None)  # Redis is back: the retry writes the chunk
    assert stored.count(project.id, "name = 'refused'") == 5


# --- a stack whose Redis fills up ---------------------------------------------------------------------
def _accepts(stack, project) -> bool:
    return _post(stack, project, "/track", track("after")).status_code == 200


def test_a_redis_full_of_live_sessions_frees_itself_and_the_api_accepts_again(stacks, tmp_path, private_redis):
    stack, project = _start(stacks, tmp_path, "full-sessions", redis_url=private_redis.url(),
                            SESSION_TIMEOUT_SECONDS=20, SESSION_SWEEP_SECONDS=2)  # fmt: skip
    other = stack.create_project("--name", "full-sessions-other")
    pid, devices = project["project_id"], 6000
    for start in range(0, devices, 2000):  # one new device each: a live session each
        events = [at("live", now_ms() - 1_000, device=f"full-{n}", i=n) for n in range(start, start + 2000)]
        assert _post(stack, project, "/track/batch", {"events": events}).json()["rejected"] == []
    eventually(lambda: stored.count(pid, "name = 'live'") == devices, 60, every=0.5)
    client = private_redis.client()
    fill(client)  # the live sessions' state fills Redis to its maxmemory
    eventually(lambda: _post(stack, other, "/track", track("refused")).status_code == 503, 10, every=0.3)

    # No operator: the sessions end after their timeout, the workers' upkeep ends them at maxmemory
    # and frees their state, Redis falls below the mark, and another project is accepted again.
    eventually(lambda: _accepts(stack, other), 120, every=1, what="the API to accept again")
    eventually(lambda: stored.count(other["project_id"], "name = 'after'") == 1, 30, every=0.5)
    eventually(lambda: stored.count(pid, "name = 'session_end'") == devices, 60, every=1)
    _exactly_once(pid, "live", devices)
    assert stored.count(pid, "name = 'session_end'", final=False) == devices
    assert stored.count(other["project_id"], "name = 'refused'") == 0


PATIENT_RETRIES = ",".join(["2", "3"] + ["5"] * 30)  # ~155 s in all: outlives the outage and the full Redis


def test_a_redis_full_of_jobs_waiting_for_clickhouse_loses_none_and_recovers_alone(stacks, tmp_path, private_redis):
    server = PrivateClickHouse().start()
    try:
        url = _migrated(server, "spool_full_jobs")
        stack, project = _start(stacks, tmp_path, "full-jobs", redis_url=private_redis.url(), CLICKHOUSE_URL=url,
                                JOB_RETRY_INTERVALS=PATIENT_RETRIES)  # fmt: skip
        other = stack.create_project("--name", "full-jobs-other")
        pid = project["project_id"]
        with override_settings(CLICKHOUSE_URL=url):
            assert _post(stack, project, "/track/batch", {"events": [track("before")]}).status_code == 202
            eventually(lambda: stored.count(pid, "name = 'before'"), 30, every=0.5)
            server.stop()

            accepted, base = 0, now_ms() - 3_600_000
            for batch in range(10):  # barely compressible: about 1 MB of waiting jobs a batch
                events = [at("held", base + batch * 2000 + i, device=f"d{i % 40}", i=batch * 2000 + i,
                              blob=bytes(range(256)).hex() + str(i)) for i in range(2000)]  # fmt: skip
                accepted += _post(stack, project, "/track/batch", {"events": events}).json()["accepted"]
            client = private_redis.client()
            fill(client)
            # The worker goes on at maxmemory: its jobs fail (ClickHouse away) and wait for their retries.
            retries = [ScheduledJobRegistry(name, connection=client, serializer=JSONSerializer) for name in ("events", "bulk")]
            eventually(lambda: sum(registry.count for registry in retries) >= 2, 60, every=0.5,
                       what="retries scheduled at maxmemory")  # fmt: skip
            assert _post(stack, other, "/track", track("refused")).status_code == 503

            server.start()
            clickhouse.reset_clients()
            try:
                eventually(lambda: stored.count(pid, "name = 'held'") == accepted, 180, every=1)
            except AssertionError:
                found = stored.count(pid, "name = 'held'")
                raise AssertionError(f"stored {found} of {accepted}") from None
            eventually(lambda: _accepts(stack, other), 60, every=1, what="the API to accept again")
            _exactly_once(pid, "held", accepted)
            for name in ("events", "bulk"):
                assert Queue(name, connection=client, serializer=JSONSerializer).failed_job_registry.count == 0
            assert not any(client.llen(keys.set_aside(source)) for source in poison.SOURCES)  # no fault taken for poison
            assert stored.count(other["project_id"], "name = 'refused'") == 0
            clickhouse.reset_clients()
    finally:
        server.remove()
