"""The SQL of copies of one event on two days (ingest/worker/copies.py): where an event is stored, by id,
and the natural days that have such events."""
from datetime import date

from storage.clickhouse import client as clickhouse

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()  # a UTC day number (ms // 86_400_000) + this = date.toordinal()

# Copies of one event on two days (ingest/worker/copies.py): where the event is stored, by id.
EVENT_DAYS_SQL = (
    "SELECT toString(id), toUInt32(any(stored_day)) FROM {db}.event_days "
    "WHERE project_id = %(project_id)s AND natural_day IN %(days)s AND id IN %(ids)s GROUP BY id"
)
STORED_ON_SQL = (
    "SELECT DISTINCT toString(id), toUInt32(toDate(created_at)) FROM {db}.events WHERE project_id = %(project_id)s "
    "AND toDate(created_at) IN %(days)s AND name IN %(names)s AND id IN %(ids)s"
)
EVENT_DAYS_SINCE_SQL = (
    "SELECT DISTINCT project_id, toUInt32(natural_day) FROM {db}.event_days WHERE natural_day >= toDate(%(since)s)"
)


def event_days(project_id: str, days: set[int], ids: list[str]) -> dict[str, int]:
    """{id: the UTC day number it is stored on} of the ids that `event_days` holds for those natural
    days (UTC day numbers)."""
    if not ids:
        return {}
    sql = EVENT_DAYS_SQL.format(db=clickhouse.database())
    return dict(clickhouse.execute(sql, {"project_id": project_id, "days": _dates(days), "ids": tuple(ids)}))


def day_date(day: int) -> date:
    """The date of a UTC day number (ms // 86_400_000)."""
    return date.fromordinal(day + EPOCH_ORDINAL)


def _dates(days: set[int]) -> tuple[date, ...]:
    return tuple(sorted(day_date(day) for day in days))


def stored_on(project_id: str, days: set[int], names: set[str], ids: list[str]) -> set[tuple[str, int]]:
    """(id, UTC day number) of the events among `ids` stored on one of `days` under one of `names`
    (the sorting key's prefix, so that the read is a few granules per id)."""
    if not ids:
        return set()
    sql = STORED_ON_SQL.format(db=clickhouse.database())
    params = {"project_id": project_id, "days": _dates(days), "names": tuple(sorted(names)), "ids": tuple(ids)}
    return {(row_id, day) for row_id, day in clickhouse.execute(sql, params)}


def event_days_since(day: int) -> list[tuple[str, int]]:
    """(project id, natural day number) of every `event_days` row whose natural day is `day` or later."""
    since = day_date(day)
    return [(project_id, natural) for project_id, natural in clickhouse.execute(
        EVENT_DAYS_SINCE_SQL.format(db=clickhouse.database()), {"since": since})]  # fmt: skip
