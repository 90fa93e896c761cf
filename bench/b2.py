"""B2: end to end. 100,000 events sent as 50 batches of 2000 until every row is in ClickHouse
(`FINAL` count), with one gunicorn web process and one RQ worker on this machine. Median of 3 runs,
each on a fresh stack (new Redis, new project).
"""
import statistics
import time

import orjson

from bench import data
from bench.stack import BenchStack

ROUNDS = 3
BATCHES = 50
EVENTS = BATCHES * 2000
TIMEOUT_SECONDS = 300


def _until_stored(stack, started: float) -> int:
    # A plain count is cheap; FINAL (the dedup-aware count) only once the rows may all be there,
    # so that the measuring does not load the ClickHouse it measures.
    while stack.count_events(final=False) < EVENTS and time.perf_counter() - started < TIMEOUT_SECONDS:
        time.sleep(0.1)
    stored = stack.count_events()
    while stored < EVENTS and time.perf_counter() - started < TIMEOUT_SECONDS:
        time.sleep(0.1)
        stored = stack.count_events()
    return stored


def _one_run(seed: int) -> dict:
    now_ms = int(time.time() * 1000)
    bodies = [data.batch_body(now_ms, seed + number) for number in range(BATCHES)]
    with BenchStack(web_workers=1, workers=1) as stack:
        started = time.perf_counter()
        for body in bodies:
            _, status, answer = stack.post("/track/batch", body)
            if status != 202 or orjson.loads(answer)["accepted"] != 2000:
                raise RuntimeError(f"/track/batch answered {status}: {answer[:200]!r}")
        sent = time.perf_counter() - started
        stored = _until_stored(stack, started)
        seconds = time.perf_counter() - started
    if stored != EVENTS:
        raise RuntimeError(f"{stored} of {EVENTS} events stored after {seconds:.0f} s")
    return {"seconds": seconds, "api_seconds": sent}


def run() -> dict:
    runs = [_one_run(1000 * (number + 1)) for number in range(ROUNDS)]
    seconds = statistics.median(run["seconds"] for run in runs)
    return {
        "events": EVENTS,
        "seconds": round(seconds, 2),
        "events_per_s": round(EVENTS / seconds),
        "api_seconds": round(statistics.median(run["api_seconds"] for run in runs), 2),
        "runs_events_per_s": [round(EVENTS / run["seconds"]) for run in runs],
        "target": ">= 10000 events/s",
        "met": EVENTS / seconds >= 10_000,
    }
