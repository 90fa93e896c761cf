"""B5: fairness between projects (contract §11).

Three floods of project A, each while project B sends as usual; B's p99 latency is measured during
each and alone (the same sender without a flood, first):
1. accepted: A posts 2000-event batches from 4 parallel clients, back to back, its quota raised so
   that none of it is refused (the flood the quota lets through). B sends single `/track` events,
   10 a second, as an SDK does. Also measured: A's accepted events/s, and how long B's events take
   to appear in ClickHouse during the flood (median and worst).
2. refused (issue 17): A at the default quota, 4 clients of 2000-event batches of new devices that
   never wait: most are answered 429. B sends, in turn, a 5-event batch and a single event, 10 a second.
3. bombs (issue 17): A's public client id with its allowed Origin posts ~30 KB gzip bodies of 10 MiB
   of JSON that breaks at its end (400 after a full parse, if it is parsed), from 4 clients.
The shipped gunicorn.conf.py (2 processes of 4 threads), 1 RQ worker, everything on the same 2 cores.
"""
import threading
import time

import orjson

from bench import data
from bench.measure import median, percentile
from bench.stack import BenchStack
from storage.clickhouse import client as clickhouse
from tests.support.events import track
from tests.support.floods import Flood, batch_of_new_devices, invalid_bomb, quiet_latencies

FLOOD_CLIENTS = 4
QUIET_PER_SECOND = 10
SECONDS = 20
ALONE_SECONDS = 10
WARMUP_SECONDS = 3
BODIES = 8


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


def _flooder(stack: BenchStack, name: str, quota: tuple[str, str], origin: str = "") -> dict:
    """A project of its own for a flood: (its secret headers, its browser headers)."""
    origins = ["--origin", origin] if origin else []
    made = stack.live.create_project("--name", f"{name} {stack.workdir.name}", *origins)
    stack.live.manage("update_project", "--project", made["client_id"], "--quota", quota[0], "--burst", quota[1])
    client_id, client_secret = made["client_id"], made["client_secret"]
    secret = {**stack.headers(), "openpanel-client-id": client_id, "openpanel-client-secret": client_secret}
    browser = {"content-type": "application/json", "content-encoding": "gzip", "origin": origin,
               "openpanel-client-id": made["client_id"]}  # fmt: skip
    return {"secret": secret, "browser": browser}


def _abusive_floods(stack: BenchStack) -> dict:
    """Floods 2 and 3: B's p99 during each (ms), and what A was answered."""
    out = {}
    refused = _flooder(stack, "refused flood", ("60000", "20000"))
    bodies = [batch_of_new_devices(seed) for seed in range(FLOOD_CLIENTS)]
    with Flood(stack.live.url, "/track/batch", refused["secret"], bodies, clients=FLOOD_CLIENTS) as flood:
        latencies = quiet_latencies(stack.live.url, stack.headers(), SECONDS, QUIET_PER_SECOND)
    out["refused_flood"] = {"quiet_p99_ms": percentile([s * 1000 for s in latencies], 0.99),
                            "answers": {str(k): v for k, v in sorted(flood.statuses.items())}}  # fmt: skip
    bombs = _flooder(stack, "bombs", ("60000", "20000"), origin="https://flood.example.com")
    with Flood(stack.live.url, "/track/batch", bombs["browser"], [invalid_bomb()], clients=FLOOD_CLIENTS) as flood:
        latencies = quiet_latencies(stack.live.url, stack.headers(), SECONDS, QUIET_PER_SECOND)
    out["bombs"] = {"quiet_p99_ms": percentile([s * 1000 for s in latencies], 0.99),
                    "answers": {str(k): v for k, v in sorted(flood.statuses.items())}}  # fmt: skip
    return out


def run() -> dict:
    now_ms = int(time.time() * 1000)
    bodies = [data.batch_body(now_ms, seed) for seed in range(BODIES)]
    with BenchStack(web_workers=2, workers=1) as stack:
        flooder = _flooder(stack, "flood", ("100000000", "100000000"))
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
        with Flood(stack.live.url, "/track/batch", flooder["secret"], bodies, clients=FLOOD_CLIENTS) as flood:
            time.sleep(WARMUP_SECONDS)  # a backlog forms first
            watcher = _watch(quiet_id, "quiet", answered, sending, delays)
            latencies = _quiet(stack, "quiet", SECONDS, answered)
            sending.set()
        watcher.join()
        abusive = _abusive_floods(stack)
    worst = max(delays)
    p99s = [percentile(latencies, 0.99), abusive["refused_flood"]["quiet_p99_ms"], abusive["bombs"]["quiet_p99_ms"]]
    return {
        "flood_events_per_s": round(flood.statuses[202] * 2000 / flood.seconds),
        "quiet_p99_ms": p99s[0],
        "quiet_p99_ms_alone": percentile(alone, 0.99),
        "quiet_seconds_to_clickhouse": median(delays),
        "quiet_seconds_to_clickhouse_max": round(worst, 2),
        "quiet_seconds_to_clickhouse_alone": median(to_clickhouse_alone),
        "flood_answers": {str(k): v for k, v in sorted(flood.statuses.items())},
        "quiet_requests": len(latencies),
        **abusive,
        "target": "quiet p99 < 1000 ms during each flood, every quiet event in ClickHouse within 10 s",
        "met": max(p99s) < 1000 and worst <= 10,
    }
