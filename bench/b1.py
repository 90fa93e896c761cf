"""B1: latency of one `POST /track/batch` of 2000 events until its 202, against the same-run floor
(a bare view on the same server that only parses the same body with orjson).

gunicorn with 2 sync workers, no RQ worker running (the jobs wait in Redis); requests one at a time,
the real endpoint and the floor interleaved so that noise on the shared machine hits both alike.
"""
import time

import orjson

from bench import data
from bench.measure import median, percentile
from bench.stack import BenchStack

WARMUP = 5
ROUNDS = 100
BODIES = 4


def run() -> dict:
    now_ms = int(time.time() * 1000)
    bodies = [data.batch_body(now_ms, seed) for seed in range(BODIES)]
    spool, floor = [], []
    with BenchStack(web_workers=2) as stack:
        for number in range(WARMUP + ROUNDS):
            body = bodies[number % BODIES]
            pair = [("/track/batch", spool), ("/bench/parse", floor)]
            for path, samples in pair if number % 2 else reversed(pair):
                elapsed, status, answer = stack.post(path, body)
                if status != 202 or orjson.loads(answer)["accepted"] != 2000:
                    raise RuntimeError(f"{path} answered {status}: {answer[:200]!r}")
                if number >= WARMUP:
                    samples.append(elapsed)
    return {
        "median_ms": median(spool),
        "p99_ms": percentile(spool, 0.99),
        "floor_median_ms": median(floor),
        "floor_p99_ms": percentile(floor, 0.99),
        "ratio": round(median(spool) / median(floor), 2),
        "requests": len(spool),
        "body_bytes": round(sum(map(len, bodies)) / BODIES),
        "target": "median <= 75 ms, p99 <= 150 ms",
        "met": median(spool) <= 75 and percentile(spool, 0.99) <= 150,
    }
