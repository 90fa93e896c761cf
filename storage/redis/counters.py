"""Counters kept in Redis, exact and shared by every process: rows accepted per project and day
(and since the start), rows rejected, ClickHouse inserts. Written on pipelines the callers already
send; read by the admin pages and by /metrics.

Counts in Redis rather than per process: the web processes, the workers and `replay_events` all add
to the same numbers, on any machine, and a restart loses none of them.
"""
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta

from redis.client import Pipeline

from storage.redis import client as redis
from storage.redis import keys

COUNTS_DAYS = 35  # the admin shows 30 days; a few more for questions asked later
COUNTS_SECONDS = COUNTS_DAYS * 86_400  # how long a day's counts are kept
# Upper bounds (seconds) of the ClickHouse insert-time histogram.
INSERT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def day_of(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date().isoformat()


# --- accepted rows ----------------------------------------------------------------------------------
def queue_accepted(pipe: Pipeline, project_id: str, received_ms: int, rows: int) -> None:
    """Count `rows` accepted rows of a project on `pipe`, the pipeline that queues them: counted
    if and only if they were queued."""
    if rows <= 0:
        return
    key = keys.accepted_counts(day_of(received_ms))
    pipe.hincrby(key, project_id, rows)
    pipe.expire(key, COUNTS_SECONDS)
    pipe.hincrby(keys.TOTAL_ACCEPTED, project_id, rows)


def _days(today: date, days: int) -> list[str]:
    return [(today - timedelta(days=back)).isoformat() for back in range(days)]


def accepted_by_day(project_ids: list[str], today: date, days: int = 30) -> dict[str, list[tuple[str, int]]]:
    """{project id: [(day, rows accepted)]} for `days` days up to `today`, newest first. One round
    trip whatever the number of projects. Raises RedisError."""
    names = _days(today, days)
    if not project_ids:
        return {}
    with redis.client().pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hmget(keys.accepted_counts(name), project_ids)
        replies = pipe.execute()
    return {
        project: [(name, int(reply[position] or 0)) for name, reply in zip(names, replies, strict=True)]
        for position, project in enumerate(project_ids)
    }


# --- rejected rows ----------------------------------------------------------------------------------

def add_rejected(pipe: Pipeline, project_id: str, day: str, by_code: dict[str, int]) -> None:
    """Queue on `pipe` the count of rows rejected on `day` (ISO date), by code. The API counts its
    rows in one script with their samples (ingest/pipeline/rejections.py); the worker counts here."""
    key = keys.rejected_counts(project_id, day)
    for code, count in by_code.items():
        pipe.hincrby(key, code, count)
    pipe.expire(key, COUNTS_SECONDS)


def add_worker_rejected(pipe: Pipeline, project_id: str, day: str, reason: str, code: str, count: int) -> None:
    """Rows the worker refused (`profile_limit`, `set_aside`), on `pipe`: counted by day and code like
    the API's, and in the totals of /metrics."""
    add_rejected(pipe, project_id, day, {code: count})
    queue_rejected_totals(pipe, project_id, Counter({(reason, code): count}))


def rejected_by_day(project_id: str, today: date, days: int = 7) -> list[tuple[str, dict[str, int]]]:
    """[(day, {code: count})] for `days` days up to `today`, newest first. Raises RedisError."""
    names = _days(today, days)
    with redis.client().pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(keys.rejected_counts(project_id, name))
        replies = pipe.execute()
    return [
        (name, {code.decode(): int(count) for code, count in sorted(reply.items())})
        for name, reply in zip(names, replies, strict=True)
    ]


def queue_rejected_totals(pipe: Pipeline, project_id: str, labels: Counter) -> None:
    """Add rejected rows, counted by (reason, code), to the totals that /metrics shows."""
    for (reason, code), count in labels.items():
        pipe.hincrby(keys.TOTAL_REJECTED, f"{project_id}|{reason}|{code}", count)


def totals() -> tuple[dict[str, int], dict[tuple[str, str, str], int]]:
    """(accepted {project: rows}, rejected {(project, reason, code): rows}) since the start."""
    with redis.client().pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.TOTAL_ACCEPTED)
        pipe.hgetall(keys.TOTAL_REJECTED)
        accepted, rejected = pipe.execute()
    return (
        {project.decode(): int(count) for project, count in accepted.items()},
        {tuple(label.decode().split("|", 2)): int(count) for label, count in rejected.items()},
    )


# --- crawlers ----------------------------------------------------------------------------------------
COUNT_CRAWLER = redis.Script(__file__, "count_crawler", bytes.decode)
CRAWLER_NAMES_PER_PROJECT = 50  # beyond them, "other": a crawler chooses its name, a series each
_NAME_CHARACTERS = re.compile(r"[^\w .\-]")


def crawler_label(name: str) -> str:
    """The name as counted: 1 to 40 plain characters."""
    return _NAME_CHARACTERS.sub("", name)[:40].strip() or "crawler"


def count_crawler(project_id: str, name: str, events: int, received_ms: int) -> str:
    """Count one crawler request of `events` events that was answered and not stored; returns the
    name it was counted under. Raises RedisError."""
    day = day_of(received_ms)
    return COUNT_CRAWLER(
        keys=[keys.crawler_counts(project_id, day), keys.TOTAL_CRAWLERS, keys.crawler_names(project_id)],
        args=[project_id, crawler_label(name), events, COUNTS_SECONDS, CRAWLER_NAMES_PER_PROJECT],
    )


def crawler_totals() -> dict[tuple[str, str, str], int]:
    """{(project, crawler, "events" | "requests"): count} since the start. Raises RedisError."""
    found = redis.client().hgetall(keys.TOTAL_CRAWLERS)
    return {tuple(label.decode().rsplit("|", 2)): int(count) for label, count in found.items()}


def top_crawlers(project_id: str, today: date, days: int = 7, most: int = 10) -> list[tuple[str, int]]:
    """[(crawler name, events dropped)] of the last `days` days up to `today`, most first. Raises RedisError."""
    with redis.client().pipeline(transaction=False) as pipe:
        for name in _days(today, days):
            pipe.hgetall(keys.crawler_counts(project_id, name))
        replies = pipe.execute()
    total: Counter = Counter()
    for reply in replies:
        total.update({name.decode(): int(count) for name, count in reply.items()})
    return sorted(total.items(), key=lambda item: (-item[1], item[0]))[:most]


# --- ClickHouse inserts -----------------------------------------------------------------------------
def record_insert(table: str, seconds: float, rows: int, ok: bool) -> None:
    """Count one ClickHouse insert (its time, rows, or its failure): one round trip. Raises RedisError."""
    bucket = next((str(bound) for bound in INSERT_BUCKETS if seconds <= bound), "+Inf")
    with redis.client().pipeline(transaction=False) as pipe:
        if ok:
            pipe.hincrby(keys.CLICKHOUSE_STATS, f"{table}|inserts", 1)
            pipe.hincrby(keys.CLICKHOUSE_STATS, f"{table}|rows", rows)
            pipe.hincrby(keys.CLICKHOUSE_STATS, f"{table}|le|{bucket}", 1)
            pipe.hincrbyfloat(keys.CLICKHOUSE_STATS, f"{table}|seconds", seconds)
        else:
            pipe.hincrby(keys.CLICKHOUSE_STATS, f"{table}|failures", 1)
        pipe.execute()


def insert_stats() -> dict[str, dict]:
    """{table: {"inserts", "rows", "failures", "seconds", "buckets": [(upper bound, cumulative count)]}}."""
    raw = {field.decode(): value.decode() for field, value in redis.client().hgetall(keys.CLICKHOUSE_STATS).items()}
    tables: dict[str, dict] = {}
    for field, value in raw.items():
        table, _, name = field.partition("|")
        stats = tables.setdefault(table, {"inserts": 0, "rows": 0, "failures": 0, "seconds": 0.0, "le": {}})
        if name.startswith("le|"):
            stats["le"][name[3:]] = int(value)
        else:
            stats[name] = float(value) if name == "seconds" else int(value)
    for stats in tables.values():
        running, buckets = 0, []
        for bound in [*map(str, INSERT_BUCKETS), "+Inf"]:
            running += stats["le"].get(bound, 0)
            buckets.append((bound, running))
        stats["buckets"] = buckets
        del stats["le"]
    return tables
