"""B2: end to end. 100,000 events sent as 50 batches of 2000 until every row is in ClickHouse
(`FINAL` count), with one gunicorn web process and one RQ worker on this machine.
"""
import time

import orjson

from bench import data
from bench.stack import BenchStack

BATCHES = 50
EVENTS = BATCHES * 2000
TIMEOUT_SECONDS = 600


def run() -> dict:
    now_ms = int(time.time() * 1000)
    bodies = [data.batch_body(now_ms, 100 + seed) for seed in range(BATCHES)]
    with BenchStack(web_workers=1, workers=1) as stack:
        started = time.perf_counter()
        for body in bodies:
            _, status, answer = stack.post("/track/batch", body)
            if status != 202 or orjson.loads(answer)["accepted"] != 2000:
                raise RuntimeError(f"/track/batch answered {status}: {answer[:200]!r}")
        sent = time.perf_counter() - started
        stored = 0
        while stored < EVENTS and time.perf_counter() - started < TIMEOUT_SECONDS:
            time.sleep(0.2)
            stored = stack.count_events()
        seconds = time.perf_counter() - started
        plain = stack.count_events(final=False)
    return {
        "events": stored,
        "seconds": round(seconds, 2),
        "events_per_s": round(stored / seconds),
        "api_seconds": round(sent, 2),
        "rows_before_merge": plain,
        "target": ">= 10000 events/s",
        "met": stored == EVENTS and stored / seconds >= 10_000,
    }
