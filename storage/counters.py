"""Per-project daily counters kept in Redis (rejected rows by code), read for the admin."""
from datetime import date, timedelta

from storage import keys, redis

REJECTED_DAYS = 35  # the admin shows 7 days; the rest is there for questions asked later


def add_rejected(pipe, project_id: str, day: str, by_code: dict[str, int]) -> None:
    """Queue on `pipe` the count of rows rejected on `day` (ISO date), by code. The API counts its
    rows in one script with their samples (ingest/pipeline/rejections.py); the worker counts here."""
    key = keys.rejected_counts(project_id, day)
    for code, count in by_code.items():
        pipe.hincrby(key, code, count)
    pipe.expire(key, REJECTED_DAYS * 86_400)


def rejected_by_day(project_id: str, today: date, days: int = 7) -> list[tuple[str, dict[str, int]]]:
    """[(day, {code: count})] for `days` days up to `today`, newest first. Raises RedisError."""
    names = [(today - timedelta(days=back)).isoformat() for back in range(days)]
    with redis.client().pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(keys.rejected_counts(project_id, name))
        replies = pipe.execute()
    return [
        (name, {code.decode(): int(count) for code, count in sorted(reply.items())})
        for name, reply in zip(names, replies, strict=True)
    ]
