"""A capacity model: measured CPU per event of each part → what 10k, 100k and 1M events/s need.

    python -m bench B2 | python -m bench.capacity          # from a fresh B2 line
    python -m bench.capacity --web-us 12 --worker-us 20 ...  # from numbers measured elsewhere

Each part's need is its CPU time per event times the rate, over the share of a core it may use
(HEADROOM: queues stay short and latency flat only below ~70% busy). Web and worker processes are
one core each (sync gunicorn workers, one RQ worker process); a Redis is one core (single-threaded)
and Spool uses one Redis (docs/scaling.md); a ClickHouse shard is CORES_PER_SHARD cores. Rates come
from bench/b2.py's `*_cpu_us_per_event` keys (the batch path: 2000-event batches); docs/scaling.md
explains the model and its limits.
"""
import argparse
import math
import sys

import orjson

RATES = (10_000, 100_000, 1_000_000)
HEADROOM = 0.7
CORES_PER_SHARD = 8
# B2 on this 2-core machine, issue-13 branch (docs/scaling.md has the run): used when no B2 line is given.
MEASURED = {"web": 53.7, "worker": 36.7, "redis": 4.0, "clickhouse": 31.0}


def plan(rate: int, us: dict[str, float], cores_per_shard: int = CORES_PER_SHARD) -> dict:
    """Processes, Redis instances and ClickHouse shards for `rate` events/s, and the part that runs
    out first: the one closest to its unit's limit (a single Redis cannot be split today)."""

    def units(part: str, cores: int = 1) -> int:
        return max(1, math.ceil(rate * us[part] / 1e6 / (HEADROOM * cores)))

    redis_load = rate * us["redis"] / 1e6 / HEADROOM  # cores of one Redis
    shards = units("clickhouse", cores_per_shard)
    row = {
        "events_per_s": rate,
        "web_processes": units("web"),
        "worker_processes": units("worker"),
        "redis_instances": units("redis"),
        "clickhouse_shards": shards,
        "cores": units("web") + units("worker") + units("redis") + shards * cores_per_shard,
        "one_redis_busy": round(redis_load, 2),
    }
    if redis_load > 1:
        row["bottleneck"] = "redis: one instance cannot hold the rate; shard by project (docs/scaling.md)"
    else:
        # The most expensive part per event is the one that needs machines first.
        part = max(("web", "worker", "clickhouse"), key=lambda name: us[name])
        more = "ClickHouse shards" if part == "clickhouse" else f"{part} processes"
        row["bottleneck"] = f"{part}: most CPU per event; add {more}"
    return row


def table(us: dict[str, float], cores_per_shard: int = CORES_PER_SHARD) -> list[dict]:
    return [plan(rate, us, cores_per_shard) for rate in RATES]


def from_b2(line: bytes) -> dict[str, float]:
    found = orjson.loads(line)
    return {part: float(found[f"{part}_cpu_us_per_event"]) for part in MEASURED}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for part in MEASURED:
        parser.add_argument(f"--{part}-us", type=float, help=f"CPU µs per event of {part}")
    parser.add_argument("--cores-per-shard", type=int, default=CORES_PER_SHARD)
    options = parser.parse_args(argv)
    us = dict(MEASURED)
    if not sys.stdin.isatty():
        for line in sys.stdin.buffer:
            if b'"B2"' in line:
                us = from_b2(line)
    for part in MEASURED:
        given = getattr(options, f"{part}_us")
        if given is not None:
            us[part] = given
    assumptions = {"cpu_us_per_event": us, "headroom": HEADROOM, "cores_per_shard": options.cores_per_shard}
    print(orjson.dumps(assumptions).decode())
    for row in table(us, options.cores_per_shard):
        print(orjson.dumps(row).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
