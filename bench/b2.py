"""B2: end to end. 100,000 events sent as 50 batches of 2000 until every row is in ClickHouse
(`FINAL` count), with one gunicorn web process and one RQ worker on this machine. Median of 3 runs,
each on a fresh stack (new Redis, new project). Then the same with two web processes (two clients
sending at once), median of 2 runs: the `*_2_web` keys.

CPU time per event beside wall time (it moves much less with the neighbours' load): of the web
processes, the worker (with its scheduler), Redis and ClickHouse, over the whole run (the kernel's
counters; Redis' INFO cpu). bench/capacity.py turns these into a capacity table.
"""
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson

from bench import data
from bench.stack import BenchStack

ROUNDS = 3
ROUNDS_2_WEB = 2
BATCHES = 50
EVENTS = BATCHES * 2000
TIMEOUT_SECONDS = 300
TARGET = 40_000


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


def _tree(pid: int) -> list[int]:
    """A process and its descendants."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        for child in (task / "children").read_text().split():
            found += _tree(int(child))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes and their descendants, from /proc."""
    ticks = 0
    for pid in {found for root in pids for found in _tree(root)}:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _redis_cpu(stack) -> float:
    found = stack.redis.client().info("cpu")
    return found["used_cpu_sys"] + found["used_cpu_user"]


def _clickhouse_cpu() -> float:
    """The run's ClickHouse server (bench/__main__.py names its pid file)."""
    pidfile = Path(os.environ.get("BENCH_CLICKHOUSE_PIDFILE", "/nonexistent"))
    return cpu_seconds([int(pidfile.read_text())]) if pidfile.exists() else 0.0


def _one_run(seed: int, web_workers: int) -> dict:
    now_ms = int(time.time() * 1000)
    bodies = [data.batch_body(now_ms, seed + number) for number in range(BATCHES)]

    def send(body: bytes) -> None:
        _, status, answer = stack.post("/track/batch", body)
        if status != 202 or orjson.loads(answer)["accepted"] != 2000:
            raise RuntimeError(f"/track/batch answered {status}: {answer[:200]!r}")

    # One project: its batches may use every web process (the fairness bound is one in flight per 2).
    with BenchStack(web_workers=web_workers, workers=1) as stack:
        web, worker = stack.live.web_worker_pids(), [process.pid for process in stack.live.workers]
        web_cpu, worker_cpu = cpu_seconds(web), cpu_seconds(worker)
        redis_cpu, clickhouse_cpu = _redis_cpu(stack), _clickhouse_cpu()
        started = time.perf_counter()
        with ThreadPoolExecutor(web_workers) as clients:
            list(clients.map(send, bodies))
        sent = time.perf_counter() - started
        stored = _until_stored(stack, started)
        seconds = time.perf_counter() - started
        web_cpu, worker_cpu = cpu_seconds(web) - web_cpu, cpu_seconds(worker) - worker_cpu
        redis_cpu, clickhouse_cpu = _redis_cpu(stack) - redis_cpu, _clickhouse_cpu() - clickhouse_cpu
    if stored != EVENTS:
        raise RuntimeError(f"{stored} of {EVENTS} events stored after {seconds:.0f} s")
    return {"seconds": seconds, "api_seconds": sent, "web_cpu": web_cpu, "worker_cpu": worker_cpu,
            "redis_cpu": redis_cpu, "clickhouse_cpu": clickhouse_cpu}  # fmt: skip


def _summary(runs: list[dict], suffix: str = "") -> dict:
    seconds = statistics.median(run["seconds"] for run in runs)

    def per_event_us(name: str) -> float:
        return round(statistics.median(run[name] for run in runs) / EVENTS * 1e6, 1)

    return {
        f"seconds{suffix}": round(seconds, 2),
        f"events_per_s{suffix}": round(EVENTS / seconds),
        f"api_seconds{suffix}": round(statistics.median(run["api_seconds"] for run in runs), 2),
        f"runs_events_per_s{suffix}": [round(EVENTS / run["seconds"]) for run in runs],
        f"web_cpu_us_per_event{suffix}": per_event_us("web_cpu"),
        f"worker_cpu_us_per_event{suffix}": per_event_us("worker_cpu"),
        f"redis_cpu_us_per_event{suffix}": per_event_us("redis_cpu"),
        f"clickhouse_cpu_us_per_event{suffix}": per_event_us("clickhouse_cpu"),
    }


def run() -> dict:
    one = [_one_run(1000 * (number + 1), web_workers=1) for number in range(ROUNDS)]
    two = [_one_run(1000 * (number + 11), web_workers=2) for number in range(ROUNDS_2_WEB)]
    result = {"events": EVENTS, **_summary(one), **_summary(two, "_2_web")}
    best = max(result["events_per_s"], result["events_per_s_2_web"])
    return {**result, "target": f">= {TARGET} events/s", "met": best >= TARGET}
