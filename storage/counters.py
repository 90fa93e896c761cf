"""Per-project daily counters kept in Redis (rejected rows by reason or code), read for the admin."""
from datetime import date, timedelta

from storage import keys, redis


def rejected_by_day(project_id: str, today: date, days: int = 7) -> list[tuple[str, dict[str, int]]]:
    """[(day, {reason: count})] for `days` days up to `today`, newest first. Raises RedisError."""
    names = [(today - timedelta(days=back)).isoformat() for back in range(days)]
    with redis.client().pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(keys.rejected_counts(project_id, name))
        replies = pipe.execute()
    return [
        (name, {reason.decode(): int(count) for reason, count in sorted(reply.items())})
        for name, reply in zip(names, replies, strict=True)
    ]


COUNTS_DAYS = 35  # the admin shows 7 days; the rest is there for questions asked later


def queue_rejected(pipe, project_id: str, day: str, counts: dict[str, int]) -> None:
    """Add rejected rows found by the worker ({code: how many}, e.g. `profile_limit`) to a project's
    counters for `day`, on `pipe`: the same counters the API's rejections add to."""
    key = keys.rejected_counts(project_id, day)
    for code, count in counts.items():
        pipe.hincrby(key, code, count)
    pipe.expire(key, COUNTS_DAYS * 86_400)
