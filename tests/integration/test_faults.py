"""Faults that must lose nothing and duplicate nothing (contract §7, §10), against real processes.

Each test runs the real server (gunicorn) and worker (rqworker) as subprocesses, on a Redis (and,
for the ClickHouse outage, a ClickHouse) of its own, and breaks them for real: SIGKILL, a stopped
server, a Redis out of memory, malformed bytes on the wire.
"""
import os
import signal
import time

import orjson
import pytest
import redis
import requests
from django.test import override_settings
from rq import Queue
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from storage.clickhouse import client as clickhouse
from storage.clickhouse.schema.migrate import migrate
from tests.support import stored
from tests.support.agents import DESKTOP_CHROME_UA as BROWSER_UA
from tests.support.events import at, now_ms, track
from tests.support.live import LiveStack
from tests.support.servers import PrivateClickHouse, PrivateRedis
from tests.support.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def private_redis():
    server = PrivateRedis().start("--maxmemory-policy", "noeviction")
    yield server
    server.remove()


@pytest.fixture
def stacks():
    """Stacks started by a test; stopped afterwards whatever happened."""
    started = []
    yield started
    for stack in started:
        stack.stop()


def _start(stacks, tmp_path, name: str, workers: int = 1, web_workers: int = 1, **env) -> tuple[LiveStack, dict]:
    folder = tmp_path / name
    folder.mkdir()
    stack = LiveStack(folder, **env)
    stacks.append(stack)
    stack.start(workers=workers, web_workers=web_workers)
    return stack, stack.create_project("--name", name)


def _headers(project: dict) -> dict:
    return {
        "openpanel-client-id": project["client_id"],
        "openpanel-client-secret": project["client_secret"],
        "user-agent": BROWSER_UA,
        "x-forwarded-for": "81.2.69.142",
    }


def _post(stack, project, path: str, body, content_type: str = "application/json", **headers) -> requests.Response:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return requests.post(stack.url + path, data=data, timeout=30,
                         headers={**_headers(project), "content-type": content_type, **headers})  # fmt: skip


def _offline_batches(total: int, devices: int = 20, name: str = "offline") -> list[list[dict]]:
    """`total` buffered events in batches of 2000: a quarter from the last 25 minutes (live sessions),
    the rest spread over the last two days (historical buckets)."""
    now = now_ms()
    events = []
    for i in range(total):
        device = f"device-{i % devices}"
        if i % 4 == 0:
            ms = now - 25 * 60_000 + (i // 4) * 20 % (20 * 60_000)
        else:
            ms = now - 2 * 86_400_000 + (i * 7_919_000) % (2 * 86_400_000 - 3_600_000)
        events.append(at(name, ms, device=device, i=i, screen=f"s{i % 7}"))
    return [events[start : start + 2000] for start in range(0, total, 2000)]


def _waiting(client) -> dict:
    """Where jobs and packets wait in a stack's Redis: for the message of a test that waited in vain."""
    found = {}
    for key in client.scan_iter(count=1000):
        name = key.decode()
        kind = client.type(key).decode()
        if name.startswith("rq:job:") or kind == "string" or kind == "hash":
            continue
        size = {"list": client.llen, "zset": client.zcard, "set": client.scard}.get(kind)
        found[name] = size(key) if size else kind
    return found


def _worker_crashed(stack) -> bool:
    return any(worker.poll() is not None for worker in stack.workers)


def _optimize(database: str) -> None:
    clickhouse.execute(f"OPTIMIZE TABLE {database}.events FINAL")


def _exactly_once(project_id: str, name: str, expected: int) -> None:
    """FINAL and (after OPTIMIZE ... FINAL) plain counts agree; every `i` is there once."""
    assert stored.count(project_id, f"name = '{name}'") == expected
    _optimize(clickhouse.database())
    assert stored.count(project_id, f"name = '{name}'", final=False) == expected
    distinct = clickhouse.execute(
        f"SELECT uniqExact(properties.value[indexOf(properties.key, 'i')]) FROM {clickhouse.database()}.events "
        "WHERE project_id = %(p)s AND name = %(n)s",
        {"p": project_id, "n": name},
    )[0][0]
    assert distinct == expected


def _sessions_without_one_start(project_id: str) -> list:
    return clickhouse.execute(
        f"SELECT session_id, countIf(name = 'session_start') AS starts FROM {clickhouse.database()}.events "
        "WHERE project_id = %(p)s AND name != 'session_end' GROUP BY session_id HAVING starts != 1 LIMIT 5",
        {"p": project_id},
    )


def _one_start_per_session(project_id: str) -> None:
    """Every session has exactly one session_start row once parts are merged. A start that moved to
    the day before (a bucket across midnight UTC whose later part was stored first) leaves a row on
    the later day until the worker's next sweep deletes it (docs/sessions.md): up to a sweep later."""

    def merged_and_single():
        _optimize(clickhouse.database())
        return _sessions_without_one_start(project_id) == []

    eventually(merged_and_single, 90, every=3, what="one session_start per session")


# --- 1. a worker SIGKILLed while draining a backlog -------------------------------------------------
def test_worker_killed_while_draining_backlog_stores_every_event_once(stacks, tmp_path, private_redis):
    stack, project = _start(stacks, tmp_path, "killed", workers=0, redis_url=private_redis.url())
    for batch in _offline_batches(20_000):
        response = _post(stack, project, "/track/batch", {"events": batch})
        assert response.json() == {"accepted": 2000, "rejected": []}

    pid = project["project_id"]
    # Registries are read with cleanup=False: a cleanup here would do the worker's recovery for it.
    # Chunks wait in `events`, and beyond the project's fair share in `bulk` (contract §11).
    registries = [StartedJobRegistry(name, connection=private_redis.client(), serializer=JSONSerializer)
                  for name in ("events", "bulk")]  # fmt: skip

    def running() -> set[str]:
        return {job_id for registry in registries for job_id in registry.get_job_ids(cleanup=False)}

    def in_a_job_after_a_few() -> bool:
        return bool(running()) and stored.count(pid, "name = 'offline'", final=False) >= 1000

    # Kill the worker while it is inside a job; a kill that lands between two jobs tests nothing,
    # so it is tried again with a new worker.
    abandoned = []
    for _ in range(10):
        stack.start_worker()
        eventually(in_a_job_after_a_few, 60, every=0.002)
        stack.kill_workers(signal.SIGKILL)
        abandoned = running()
        if abandoned:
            break
    assert abandoned, "no kill landed inside a job"
    killed_at = time.time()
    stored_at_kill = stored.count(pid, "name = 'offline'")
    assert stored_at_kill < 20_000, "the backlog was drained before the kill; nothing was tested"

    stack.start_worker()
    eventually(lambda: stored.count(pid, "name = 'offline'") == 20_000, 150, every=0.5)
    # The job the kill interrupted (it may have written its rows already) is re-run within 2 minutes
    # (contract §7), and the re-run writes nothing twice.
    eventually(lambda: not abandoned & running(), 150, every=1)
    assert time.time() - killed_at < 120
    lanes = [Queue(name, connection=private_redis.client(), serializer=JSONSerializer) for name in ("events", "bulk")]
    eventually(lambda: not any(queue.count for queue in lanes) and not running(), 30, every=0.5)
    assert not any(queue.failed_job_registry.count for queue in lanes)
    _exactly_once(pid, "offline", 20_000)
    _one_start_per_session(pid)


# --- 2. ClickHouse stopped for a minute ---------------------------------------------------------------
PATIENT_RETRIES = "2,4,8,10,10,10,10,10,10,10,10,10"  # ~100 s in all: outlives a one-minute outage
IMPATIENT_RETRIES = "1"  # gives up at once: its jobs end in the failed registry


def _migrated(server: PrivateClickHouse, database: str) -> str:
    """The URL of `database` on a private server, created with the real migrations."""
    url = server.url(database)
    with override_settings(CLICKHOUSE_URL=url):
        migrate(database)
        clickhouse.reset_clients()
    return url


def test_clickhouse_outage_loses_nothing_and_failed_jobs_can_be_requeued(stacks, tmp_path, private_redis):
    server = PrivateClickHouse().start()
    try:
        database = "spool_outage"
        url = _migrated(server, database)
        patient, patient_project = _start(stacks, tmp_path, "patient", redis_url=private_redis.url(1),
                                          CLICKHOUSE_URL=url, JOB_RETRY_INTERVALS=PATIENT_RETRIES)  # fmt: skip
        impatient, impatient_project = _start(stacks, tmp_path, "impatient", redis_url=private_redis.url(2),
                                              CLICKHOUSE_URL=url, JOB_RETRY_INTERVALS=IMPATIENT_RETRIES)  # fmt: skip
        with override_settings(CLICKHOUSE_URL=url):
            # Both pipelines work (and their workers hold a ClickHouse connection) before the outage.
            for stack, project in ((patient, patient_project), (impatient, impatient_project)):
                assert _post(stack, project, "/track/batch", {"events": [track("before")]}).status_code == 202
                eventually(lambda p=project: stored.count(p["project_id"], "name = 'before'"), 30, every=0.5)

            server.stop()
            stopped_at = time.time()
            batches = _offline_batches(4990, name="outage")
            for batch in batches:
                assert _post(patient, patient_project, "/track/batch", {"events": batch}).json()["rejected"] == []
            for n in range(10):  # single SDK events go through the buffer
                assert _post(patient, patient_project, "/track", track("outage", i=f"single-{n}")).status_code == 200
            for batch in _offline_batches(1000, name="outage"):
                assert _post(impatient, impatient_project, "/track/batch", {"events": batch}).status_code == 202

            failed = FailedJobRegistry("events", connection=private_redis.client(2), serializer=JSONSerializer)
            eventually(lambda: failed.count == 2, 30, every=0.5)
            listing = impatient.manage("failed_jobs")
            assert "2 failed jobs, 1000 events" in listing

            time.sleep(max(0.0, 60 - (time.time() - stopped_at)))
            server.start()
            clickhouse.reset_clients()

            # No operator step: the patient jobs retry until ClickHouse is back.
            pid = patient_project["project_id"]
            eventually(lambda: stored.count(pid, "name = 'outage'") == 5000, 60, every=0.5)
            patient_failed = FailedJobRegistry("events", connection=private_redis.client(1), serializer=JSONSerializer)
            assert patient_failed.count == 0
            # The jobs that gave up wait for an operator, and are stored once requeued.
            assert stored.count(impatient_project["project_id"], "name = 'outage'") == 0
            assert "requeued 2 jobs" in impatient.manage("failed_jobs", "--requeue")
            eventually(lambda: stored.count(impatient_project["project_id"], "name = 'outage'") == 1000, 30, every=0.5)
            assert failed.count == 0

            clickhouse.execute(f"OPTIMIZE TABLE {database}.events FINAL")
            assert stored.count(pid, "name = 'outage'", final=False) == 5000
            assert stored.count(impatient_project["project_id"], "name = 'outage'", final=False) == 1000
            _one_start_per_session(pid)
            clickhouse.reset_clients()
    finally:
        server.remove()


# --- 3. Redis stopped ---------------------------------------------------------------------------------
def test_redis_stopped_answers_503_and_ingestion_resumes_when_it_returns(stacks, tmp_path, private_redis):
    stack, project = _start(stacks, tmp_path, "redis-down", redis_url=private_redis.url(), web_workers=2)
    pid = project["project_id"]
    assert _post(stack, project, "/track", track("before")).status_code == 200
    web_workers = sorted(stack.web_worker_pids())

    private_redis.stop()
    requests_while_down = [
        ("/track", track("lost"), {}),
        ("/track", track("lost"), {"origin": "https://app.example.com"}),
        ("/track", {"type": "batch", "payload": [track("lost")]}, {}),
        ("/track/batch", {"events": [track("lost")] * 3}, {}),
        ("/api/track/batch", b'{"type":"track","payload":{"name":"lost"}}\n', {"content-type": "application/x-ndjson"}),
    ]
    for _ in range(3):
        for path, body, headers in requests_while_down:
            response = _post(stack, project, path, body, **headers)
            assert response.status_code == 503, (path, response.status_code, response.text)
            assert int(response.headers["Retry-After"]) > 0
            assert response.json()["error"] == "unavailable"
    assert stack.web.poll() is None
    assert sorted(stack.web_worker_pids()) == web_workers  # no web worker died and was replaced

    private_redis.start("--maxmemory-policy", "noeviction")
    assert _post(stack, project, "/track", track("after")).status_code == 200
    assert _post(stack, project, "/track/batch", {"events": [track("after")] * 3}).json()["accepted"] == 3
    eventually(lambda: stored.count(pid, "name = 'after'") == 4, 60, every=0.5)
    assert stored.count(pid, "name = 'lost'") == 0
    assert stack.web.poll() is None and sorted(stack.web_worker_pids()) == web_workers
    assert not _worker_crashed(stack)


# --- 4. an enqueue that fails half-way through a batch --------------------------------------------------
def test_batch_whose_enqueue_fails_half_way(stacks, tmp_path, private_redis):
    stack, project = _start(stacks, tmp_path, "half", workers=0, redis_url=private_redis.url())
    pid = project["project_id"]
    assert _post(stack, project, "/track/batch", {"events": [track("warm")]}).status_code == 202
    base = now_ms() - 3_600_000
    # Every 4th event is small and from a device sorting first ("a..."): those fill the first chunk job.
    # The others are bulky and barely compressible (~1.3 MB a chunk job), so Redis, given room for
    # 512 KiB more, takes the first job and refuses the next ones (OOM), whatever its background noise.
    events = [
        at("half", base + i, device=f"a{i % 10}", i=i) if i % 4 == 0
        else at("half", base + i, device=f"z{i % 10}", i=i, blob=os.urandom(2500).hex())
        for i in range(2000)
    ]  # fmt: skip
    server = private_redis.client()
    server.config_set("maxmemory", server.info("memory")["used_memory"] + 512 * 1024)

    first = _post(stack, project, "/track/batch", {"events": events})
    assert first.status_code == 202
    body = first.json()
    assert body["accepted"] == 500
    assert body["rejected"] == [
        {"index": i, "reason": "internal", "code": "queue_unavailable", "error": "the queue is unavailable; retry this event"}
        for i in range(2000) if i % 4
    ]  # fmt: skip

    server.config_set("maxmemory", 0)
    stack.start_worker()
    eventually(lambda: stored.count(pid, "name = 'half'") == 500, 60, every=0.5)
    kept = sorted(int(row["properties"]["i"]) for row in stored.events(pid, "name = 'half'"))
    assert kept == list(range(0, 2000, 4))

    retry = _post(stack, project, "/track/batch", {"events": events})
    assert retry.json() == {"accepted": 2000, "rejected": []}
    eventually(lambda: stored.count(pid, "name = 'half'") == 2000, 60, every=0.5)
    _exactly_once(pid, "half", 2000)


# --- 5. malformed input ----------------------------------------------------------------------------------
def _deep(levels: int, open_: bytes, close: bytes) -> bytes:
    return open_ * levels + b"1" + close * levels


def _item(properties: bytes = b"{}", name: bytes = b'"odd"', extra: bytes = b"") -> bytes:
    return b'{"type":"track","payload":{"name":' + name + b',"properties":' + properties + extra + b"}}"


CORPUS = {
    "deep list": _item(b'{"a":' + _deep(10_000, b"[", b"]") + b"}"),
    "deep object": _item(_deep(10_000, b'{"a":', b"}")),
    "deep envelope": _deep(10_000, b"[", b"]"),
    "1e400 property": _item(b'{"x":1e400}'),
    "-1e400 timestamp": _item(b'{"__timestamp":-1e400}'),
    "1e400 profile id": _item(extra=b',"profileId":1e400'),
    "1e400 name": _item(name=b"1e400"),
    "huge integer": _item(b'{"n":123456789012345678901234567890123,"__revenue":123456789012345678901234567890}'),
    "increment 1e400": b'{"type":"increment","payload":{"profileId":"u","property":"p","value":1e400}}',
    "NaN": _item(b'{"x":NaN}'),
    "Infinity": _item(b'{"x":-Infinity}'),
    "invalid utf-8": _item(b'{"x":"\xff\xfe\xc3(","\xc0\xaf":"k"}', name=b'"caf\xe9"'),
    "lone surrogates": _item(b'{"x":"\\ud800","\\udfff":"y","__deviceId":"\\udbff"}', name=b'"a\\ud800b"'),
    "surrogate name only": _item(name=b'"\\ud800"'),
    "nul and controls": _item(b'{"x":"a\\u0000b\\u001f"}', name=b'"a\\u0000b"'),
    "odd unicode": _item('{"x":"\u202e\u200b\U0001f600\ufeff","\U0001f600":"\u0301"}'.encode(), name='"\U0001f600 \u202e"'.encode()),
    "64 KiB+ event": _item(b'{"blob":"' + b"x" * 70_000 + b'"}'),
    "81 char name": _item(name=b'"' + b"n" * 81 + b'"'),
    "10000 char name": _item(name=b'"' + b"n" * 10_000 + b'"'),
    "10000 keys": _item(b"{" + b",".join(b'"k%d":%d' % (k, k) for k in range(10_000)) + b"}"),
    "long key": _item(b'{"' + b"k" * 20_000 + b'":1}'),
    "bad timestamps": _item(b'{"__timestamp":"9999-99-99"}'),
    "far future": _item(b'{"__timestamp":"9999-12-31T23:59:59Z"}'),
    "year one": _item(b'{"__timestamp":"0001-01-01T00:00:00"}'),
    "bad ip": _item(b'{"__ip":"999.1.1.1"}'),
    "bad urls": _item(b'{"__path":"http://[oops/x?a=1#h","__referrer":"http://[::1"}'),
    "odd path types": _item(b'{"__path":{"a":1},"__referrer":[1,2],"__revenue":{"x":1},"__deviceId":{}}'),
    "bad identify": _item(b'{"__identify":{"profileId":{"a":1},"email":1e400}}'),
    "duplicate keys": _item(b'{"a":1,"a":2}', extra=b',"name":"dup"'),
    "groups": _item(extra=b',"groups":[1e400,null,"",{"a":1}]'),
    "not an object": b"[1,2,3]",
    "string": b'"track"',
    "null": b"null",
    "nested batch": b'{"type":"batch","payload":[{"type":"batch","payload":[]}]}',
    "unknown type": b'{"type":"\\ud800","payload":"x"}',
    "truncated": b'{"type":"track","payload":{"name":"cut',
    "empty": b"",
    "binary": bytes(range(256)),
}

GOOD = orjson.dumps(track("good"))



def test_malformed_input_never_gets_a_5xx_nor_crashes_the_worker(stacks, tmp_path):
    stack, project = _start(stacks, tmp_path, "malformed")
    pid = project["project_id"]
    goods = 0
    for label, raw in CORPUS.items():
        single = _post(stack, project, "/track", raw)
        assert single.status_code < 500, (label, "single", single.status_code, single.text)
        assert single.status_code in (200, 202, 400, 404, 413), (label, single.status_code)

        batch = _post(stack, project, "/track/batch", b'{"events":[' + GOOD + b"," + raw + b"," + GOOD + b"]}")
        assert batch.status_code in (202, 400), (label, "batch", batch.status_code, batch.text)
        if batch.status_code == 202:
            assert {row["index"] for row in batch.json()["rejected"]} <= {1}, label
            goods += 2

        ndjson = _post(stack, project, "/track/batch", GOOD + b"\n" + raw + b"\n" + GOOD, "application/x-ndjson")
        assert ndjson.status_code == 202, (label, "ndjson", ndjson.status_code, ndjson.text)
        answer = ndjson.json()
        last = answer["accepted"] + len(answer["rejected"]) - 1  # the bad bytes may hold line breaks
        assert not {row["index"] for row in answer["rejected"]} & {0, last}, label
        goods += 2

    # The transport-level cases of contract §10.
    assert _post(stack, project, "/track", GOOD, "text/plain").status_code == 415
    assert _post(stack, project, "/track/batch", b"\x1f\x8b\x08corrupt", **{"content-encoding": "gzip"}).status_code == 400
    assert _post(stack, project, "/track/batch", b'{"events":["' + b"x" * (11 * 2**20) + b'"]}').status_code == 413

    eventually(lambda: stored.count(pid, "name = 'good'") == goods, 60, every=0.5)
    assert not _worker_crashed(stack) and stack.web.poll() is None
    # Whatever was accepted was also stored: no job failed on odd data, nothing was logged as a crash.
    queue = Queue("events", connection=redis.Redis.from_url(stack.env["REDIS_URL"]), serializer=JSONSerializer)
    eventually(lambda: queue.count == 0 and queue.started_job_registry.get_job_count(cleanup=False) == 0, 30, every=0.5)
    assert queue.failed_job_registry.count == 0
    for log in ("web.log", "worker.log"):
        text = (stack.workdir / log).read_text(errors="replace")
        assert "Traceback" not in text, f"{log}:\n{text[-3000:]}"


# --- 6. Redis filled to its high-water mark while ClickHouse is down (contract §11) --------------------
VERY_PATIENT_RETRIES = "2,5,10,20,30,30,30,30,30,30,30,30"  # ~5 minutes: outlives filling Redis on a busy machine


def test_high_water_mark_while_clickhouse_is_down_loses_nothing_and_recovers_alone(stacks, tmp_path):
    server = PrivateClickHouse().start()
    memory = PrivateRedis().start("--maxmemory", "32mb", "--maxmemory-policy", "noeviction")
    try:
        url = _migrated(server, "spool_high_water")
        stack, project = _start(stacks, tmp_path, "high-water", redis_url=memory.url(), CLICKHOUSE_URL=url,
                                REDIS_HIGH_WATER_MARK="50%", JOB_RETRY_INTERVALS=VERY_PATIENT_RETRIES)  # fmt: skip
        pid = project["project_id"]
        with override_settings(CLICKHOUSE_URL=url):
            assert _post(stack, project, "/track/batch", {"events": [track("before")]}).status_code == 202
            eventually(lambda: stored.count(pid, "name = 'before'"), 30, every=0.5)
            server.stop()

            # Barely compressible events fill Redis fast: about 1 MB a batch.
            base, accepted, refused, sent = now_ms() - 3_600_000, 0, None, 0
            while refused is None and sent < 60:
                events = [at("held", base + sent * 2000 + i, device=f"d{i % 40}", i=sent * 2000 + i,
                              blob=os.urandom(256).hex()) for i in range(2000)]  # fmt: skip
                response = _post(stack, project, "/track/batch", {"events": events})
                sent += 1
                if response.status_code == 202:
                    accepted += response.json()["accepted"]
                else:
                    refused = response
            assert refused is not None and refused.status_code == 503, "Redis never reached the mark"
            assert refused.json()["error"] == "overloaded" and int(refused.headers["Retry-After"]) > 0
            single = _post(stack, project, "/track", track("held", i="single"))
            assert single.status_code == 503
            info = memory.client().info("memory")
            assert info["used_memory"] < info["maxmemory"]  # the mark kept ingestion from filling Redis

            # A worker (re)started above the mark registers and works: workers are never refused.
            # (A deploy's restart; test 1 covers a worker killed inside a job.)
            stack.kill_workers(signal.SIGTERM)
            stack.start_worker()
            eventually(lambda: memory.client().scard("rq:workers") >= 1, 30, every=0.2)

            time.sleep(5)  # the jobs fail and wait for their retries
            server.start()
            clickhouse.reset_clients()
            # No operator: the retries store everything, Redis falls below the mark, the API accepts again.
            try:
                eventually(lambda: stored.count(pid, "name = 'held'") == accepted, 180, every=1)
            except AssertionError as error:
                held = stored.count(pid, "name = 'held'")
                raise AssertionError(f"{error}; stored {held} of {accepted}; Redis: {_waiting(memory.client())}") from None
            eventually(lambda: _post(stack, project, "/track", track("after")).status_code == 200, 60, every=1)
            assert _post(stack, project, "/track/batch", {"events": [track("after")] * 3}).status_code == 202
            eventually(lambda: stored.count(pid, "name = 'after'") == 4, 60, every=0.5)
            _exactly_once(pid, "held", accepted)
            for name in ("events", "bulk"):
                assert FailedJobRegistry(name, connection=memory.client(), serializer=JSONSerializer).count == 0
            assert not _worker_crashed(stack)
            clickhouse.reset_clients()
    finally:
        memory.remove()
        server.remove()


# --- 7. a body without credentials costs nothing (contract §2 r2) --------------------------------------
def _peak_rss_kib(pid: int) -> int:
    status = open(f"/proc/{pid}/status").read()
    return int(status.split("VmHWM:")[1].split()[0])


def test_a_huge_gzip_body_without_a_client_id_is_refused_at_once(stacks, tmp_path):
    import gzip

    stack, project = _start(stacks, tmp_path, "no-credentials", workers=0, web_workers=1)
    [web] = stack.web_worker_pids()
    inside = b'{"type":"track","payload":{"name":"x","properties":{"f":"' + b"a" * (10 * 2**20) + b'"}}}'
    body = gzip.compress(inside)  # about 10 KB on the wire, 10 MiB inside
    headers = {"content-type": "application/json", "content-encoding": "gzip", "user-agent": BROWSER_UA}
    for _ in range(3):  # warm: the first requests load what every request uses
        requests.post(stack.url + "/track", data=body, headers=headers, timeout=30)
    before = _peak_rss_kib(web)
    timings = []
    for _ in range(10):
        started = time.perf_counter()
        response = requests.post(stack.url + "/track", data=body, headers=headers, timeout=30)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 401 and response.json()["error"] == "unauthorized"
    assert sorted(timings)[5] < 0.05, timings  # a few milliseconds, not the half second of a full read
    assert _peak_rss_kib(web) - before < 4 * 1024  # the 10 MiB inside is never unpacked
