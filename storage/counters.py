"""Per-project daily counters kept in Redis (rejected rows by reason), read for the admin."""
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
