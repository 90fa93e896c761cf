"""B5: fairness between projects (contract §11).

Project A floods `POST /track/batch` from 4 parallel clients, 2000-event batches back to back, its
quota raised so that none of it is refused (the hard case: a flood the quota lets through). Project B
meanwhile sends single `/track` events, 10 a second, as an SDK does. Measured: A's accepted events/s;
B's p99 latency during the flood and alone (the same sender without the flood, first); and how long
B's events take to appear in ClickHouse during the flood (median and worst). 2 gunicorn sync workers,
1 RQ worker, everything on the same 2 cores. A's batches beyond its BATCHES_IN_FLIGHT (1 here) are
answered 429 `busy` at once and sent again; its batches beyond its fair share wait in the bulk queue.
"""
import http.client
import threading
import time

import orjson

from bench import data
from bench.measure import median, percentile
from bench.stack import BenchStack
from storage import clickhouse
from tests.support.events import track

FLOOD_CLIENTS = 4
QUIET_PER_SECOND = 10
SECONDS = 20
ALONE_SECONDS = 10
WARMUP_SECONDS = 3
BODIES = 8


def _post(stack: BenchStack, headers: dict, path: str, body: bytes) -> tuple[float, int, bytes]:
    started = time.perf_counter()
    connection = http.client.HTTPConnection(stack.host, stack.port, timeout=120)
    connection.request("POST", path, body, headers)
    response = connection.getresponse()
    answer = response.read()
    connection.close()
    return (time.perf_counter() - started) * 1000, response.status, answer


class Flood:
    """FLOOD_CLIENTS threads posting batches of project A until stopped."""

    def __init__(self, stack: BenchStack, headers: dict, bodies: list[bytes]):
        self.stack, self.headers, self.bodies = stack, headers, bodies
        self.accepted = self.refused = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._send, args=(n,), daemon=True) for n in range(FLOOD_CLIENTS)]

    def _send(self, number: int) -> None:
        sent = number
        while not self.stop.is_set():
            _, status, answer = _post(self.stack, self.headers, "/track/batch", self.bodies[sent % len(self.bodies)])
            sent += FLOOD_CLIENTS
            with self.lock:
                if status == 202:
                    self.accepted += orjson.loads(answer)["accepted"]
                else:
                    self.refused += 1

    def __enter__(self) -> "Flood":
        self.started = time.monotonic()
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()
        self.seconds = time.monotonic() - self.started


def _quiet(stack: BenchStack, name: str, seconds: int, answered: dict[int, float]) -> list[float]:
    """Single events of project B at QUIET_PER_SECOND: their latencies (ms); `answered` gets when
    each was answered."""
    latencies = []
    started = time.monotonic()
    for number in range(seconds * QUIET_PER_SECOND):
        time.sleep(max(0.0, started + number / QUIET_PER_SECOND - time.monotonic()))
        body = orjson.dumps(track(name, q=number, __deviceId=f"quiet-{number % 5}"))
        elapsed, status, answer = stack.post("/track", body)
        if status != 200:
            raise RuntimeError(f"the quiet project was answered {status}: {answer[:200]!r}")
        latencies.append(elapsed)
        answered[number] = time.time()
    return latencies


def _seconds_to_clickhouse(project_id: str, name: str, answered: dict[int, float], sending=None) -> list:
    """For each event: seconds from its answer until a reader of ClickHouse sees it. Watches while
    `sending` (an Event) is not set, then until every answered event is seen (3 minutes at most)."""
    seen: dict[int, float] = {}
    deadline = time.monotonic() + 180
    sql = (
        f"SELECT DISTINCT properties.value[indexOf(properties.key, 'q')] FROM {clickhouse.database()}.events "
        "WHERE project_id = %(p)s AND name = %(n)s"
    )
    while (sending is not None and not sending.is_set()) or len(seen) < len(answered):
        if time.monotonic() > deadline:
            break
        now = time.time()
        for (value,) in clickhouse.execute(sql, {"p": project_id, "n": name}):
            seen.setdefault(int(value), now)
        time.sleep(0.1)
    return [seen.get(number, float("inf")) - moment for number, moment in answered.items()]


def _watch(project_id: str, name: str, answered: dict[int, float], sending, out: list) -> threading.Thread:
    """Poll ClickHouse while the quiet events are sent (so that the times are taken during the flood)."""
    thread = threading.Thread(target=lambda: out.extend(_seconds_to_clickhouse(project_id, name, answered, sending)))
    thread.start()
    return thread


def run() -> dict:
    now_ms = int(time.time() * 1000)
    bodies = [data.batch_body(now_ms, seed) for seed in range(BODIES)]
    with BenchStack(web_workers=2, workers=1) as stack:
        flooder = stack.live.create_project("--name", f"flood {stack.workdir.name}")
        stack.live.manage("update_project", "--project", flooder["client_id"], "--quota", "100000000",
                          "--burst", "100000000")  # fmt: skip
        flood_headers = {
            **stack.headers(),
            "openpanel-client-id": flooder["client_id"],
            "openpanel-client-secret": flooder["client_secret"],
        }
        quiet_id = stack.project["project_id"]
        warm: dict[int, float] = {}
        _quiet(stack, "warm", 1, warm)
        _seconds_to_clickhouse(quiet_id, "warm", warm)  # the worker is up and has a ClickHouse connection

        answered_alone: dict[int, float] = {}
        to_clickhouse_alone: list[float] = []
        sending_alone = threading.Event()
        watcher = _watch(quiet_id, "quiet_alone", answered_alone, sending_alone, to_clickhouse_alone)
        alone = _quiet(stack, "quiet_alone", ALONE_SECONDS, answered_alone)
        sending_alone.set()
        watcher.join()

        answered: dict[int, float] = {}
        delays: list[float] = []
        sending = threading.Event()
        with Flood(stack, flood_headers, bodies) as flood:
            time.sleep(WARMUP_SECONDS)  # a backlog forms first
            watcher = _watch(quiet_id, "quiet", answered, sending, delays)
            latencies = _quiet(stack, "quiet", SECONDS, answered)
            sending.set()
        watcher.join()
    worst = max(delays)
    return {
        "flood_events_per_s": round(flood.accepted / flood.seconds),
        "quiet_p99_ms": percentile(latencies, 0.99),
        "quiet_p99_ms_alone": percentile(alone, 0.99),
        "quiet_seconds_to_clickhouse": median(delays),
        "quiet_seconds_to_clickhouse_max": round(worst, 2),
        "quiet_seconds_to_clickhouse_alone": median(to_clickhouse_alone),
        "flood_refused": flood.refused,  # 429 busy: its batches beyond BATCHES_IN_FLIGHT
        "quiet_requests": len(latencies),
        "target": "quiet p99 < 1000 ms during the flood, every quiet event in ClickHouse within 10 s",
        "met": percentile(latencies, 0.99) < 1000 and worst <= 10,
    }
