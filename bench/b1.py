"""B1: latency of one `POST /track/batch` of 2000 events until its 202, against the same-run floor
(a bare view on the same server that only parses the same body with orjson), and the web workers'
CPU time per event.

the shipped gunicorn.conf.py (2 processes), no RQ worker running (the jobs wait in Redis); requests one at a time,
the real endpoint and the floor interleaved so that noise on the shared machine hits both alike.
Then how the cost grows with the batch size (issue 13): batches of 100, 500, 1000 and 2000 events,
each size sent in a block of back-to-back requests, with the web CPU of the whole block per event.
"""
import time

import orjson

from bench import data
from bench.cpu import cpu_seconds
from bench.measure import median, percentile
from bench.stack import BenchStack

WARMUP = 5
ROUNDS = 100
BODIES = 4
# Batch size → requests in its block (about the same number of events each, at least 1 s of CPU).
SIZES = {100: 200, 500: 60, 1000: 40, 2000: 30}


def _post(stack: BenchStack, path: str, body: bytes, events: int) -> float:
    elapsed, status, answer = stack.post(path, body)
    if status != 202 or orjson.loads(answer)["accepted"] != events:
        raise RuntimeError(f"{path} answered {status}: {answer[:200]!r}")
    return elapsed


def _sizes(stack: BenchStack, now_ms: int, pids: list[int]) -> dict:
    """{size: {median_ms, us_per_event (median wall), web_cpu_us_per_event}} and the spread of the
    CPU per event across sizes (max / min: flat is at most 1.2)."""
    out = {}
    for size, requests in SIZES.items():
        bodies = [data.batch_body(now_ms, 100 + seed, count=size) for seed in range(BODIES)]
        for body in bodies:
            _post(stack, "/track/batch", body, size)  # warm
        samples = []
        cpu_before = cpu_seconds(pids)
        for number in range(requests):
            samples.append(_post(stack, "/track/batch", bodies[number % BODIES], size))
        cpu = cpu_seconds(pids) - cpu_before
        out[size] = {
            "median_ms": median(samples),
            "us_per_event": round(median(samples) * 1000 / size, 2),
            "web_cpu_us_per_event": round(cpu * 1e6 / (requests * size), 2),
        }
    return out


def run() -> dict:
    now_ms = int(time.time() * 1000)
    bodies = [data.batch_body(now_ms, seed) for seed in range(BODIES)]
    spool, floor, cpu = [], [], []
    with BenchStack(web_workers=2) as stack:
        pids = stack.live.web_worker_pids()
        for number in range(WARMUP + ROUNDS):
            body = bodies[number % BODIES]
            pair = [("/track/batch", spool), ("/bench/parse", floor)]
            for path, samples in pair if number % 2 else reversed(pair):
                before = cpu_seconds(pids)
                elapsed = _post(stack, path, body, 2000)
                if number >= WARMUP:
                    samples.append(elapsed)
                    if samples is spool:
                        cpu.append(cpu_seconds(pids) - before)
        sizes = _sizes(stack, now_ms, pids)
    per_event = [entry["web_cpu_us_per_event"] for entry in sizes.values()]
    web_cpu = round(sum(cpu) * 1e6 / (len(cpu) * 2000), 2)
    return {
        "median_ms": median(spool),
        "p99_ms": percentile(spool, 0.99),
        "floor_median_ms": median(floor),
        "floor_p99_ms": percentile(floor, 0.99),
        "ratio": round(median(spool) / median(floor), 2),
        "web_cpu_us_per_event": web_cpu,
        "requests": len(spool),
        "body_bytes": round(sum(map(len, bodies)) / BODIES),
        "sizes": {str(size): entry for size, entry in sizes.items()},
        "cpu_spread_across_sizes": round(max(per_event) / min(per_event), 2),
        "target": "median <= 20 ms, web CPU <= 9 us/event, ratio <= 9; CPU per event flat within 20% across sizes",
        "met": median(spool) <= 20 and web_cpu <= 9 and median(spool) / median(floor) <= 9
        and max(per_event) / min(per_event) <= 1.2,
    }
