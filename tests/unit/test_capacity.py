"""bench/capacity.py: measured CPU per event → processes, Redis instances and shards."""
from bench import capacity

US = {"web": 10.0, "worker": 20.0, "redis": 2.0, "clickhouse": 7.0}


def test_each_part_is_its_cpu_per_event_times_the_rate_over_the_headroom():
    row = capacity.plan(100_000, US, cores_per_shard=8)
    assert row["web_processes"] == 2  # 100,000 x 10 µs = 1 core-second a second, / 0.7 = 1.4
    assert row["worker_processes"] == 3
    assert row["redis_instances"] == 1
    assert row["clickhouse_shards"] == 1  # 0.7 cores / (0.7 x 8)
    assert row["cores"] == 2 + 3 + 1 + 8
    assert row["bottleneck"].startswith("worker")


def test_a_rate_one_redis_cannot_hold_names_redis():
    row = capacity.plan(1_000_000, US)
    assert row["redis_instances"] == 3 and row["bottleneck"].startswith("redis")


def test_a_b2_line_gives_the_rates():
    line = b'{"id":"B2","web_cpu_us_per_event":1,"worker_cpu_us_per_event":2,"redis_cpu_us_per_event":3,' \
           b'"clickhouse_cpu_us_per_event":4}'  # fmt: skip
    assert capacity.from_b2(line) == {"web": 1.0, "worker": 2.0, "redis": 3.0, "clickhouse": 4.0}
