"""The SQL of the admin's events explorer: latest events with filters, a session, a profile.

Every query is parameterised, bounded by a time range on `created_at` (the table's sorting key
starts with the project and the day) and by a LIMIT, and reads `FINAL` so that a re-sent row shows
once. Each runs on a connection of its own with short timeouts (clickhouse.reader): a slow or absent
ClickHouse costs the page a few seconds and an error message, never a hung web worker. Profiles that
were erased are hidden at once, before ClickHouse's mutation has rewritten the rows.
"""
from dataclasses import dataclass
from datetime import UTC, datetime

from storage.clickhouse import client as clickhouse

TIMEOUT_SECONDS = 5
MAX_ROWS = 1000
COLUMNS = (
    "id", "name", "created_at", "created_at_ms", "received_at", "device_id", "profile_id", "session_id",
    "path", "origin", "referrer", "country", "city", "os", "browser", "device", "brand", "model",
    "sdk_name", "sdk_version", "duration", "properties.key", "properties.value",
)  # fmt: skip
# Only these columns can be filtered on, each by equality with a parameter.
FILTERS = ("name", "device_id", "profile_id", "session_id")


@dataclass(frozen=True)
class Query:
    project_id: str
    since: datetime
    until: datetime
    filters: tuple[tuple[str, str], ...] = ()  # (column of FILTERS, value)
    hidden_profiles: tuple[str, ...] = ()  # erased: not shown whatever the table still holds
    limit: int = 100
    oldest_first: bool = False


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _sql(query: Query) -> tuple[str, dict]:
    params: dict = {"project_id": query.project_id, "since": _epoch(query.since), "until": _epoch(query.until)}
    where = [
        "project_id = %(project_id)s",
        "created_at >= toDateTime(%(since)s)",
        "created_at < toDateTime(%(until)s)",
    ]
    for position, (column, value) in enumerate(query.filters):
        if column not in FILTERS:
            raise ValueError(f"cannot filter on {column!r}")
        where.append(f"{column} = %(filter_{position})s")
        params[f"filter_{position}"] = value
    if query.hidden_profiles:
        where.append("profile_id NOT IN %(hidden)s")
        params["hidden"] = tuple(query.hidden_profiles)
    order = (
        "created_at, created_at_ms, id"
        if query.oldest_first
        else "received_at DESC, created_at DESC, created_at_ms DESC, id"
    )
    params["limit"] = max(1, min(query.limit, MAX_ROWS))
    sql = (
        f"SELECT {', '.join(COLUMNS)} FROM {clickhouse.database()}.events FINAL "
        f"WHERE {' AND '.join(where)} ORDER BY {order} LIMIT %(limit)s"
    )
    return sql, params


def _row(values) -> dict:
    row = dict(zip(COLUMNS, values))
    row["properties"] = dict(zip(row.pop("properties.key"), row.pop("properties.value")))
    row["id"] = str(row["id"])
    created = row["created_at"]
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    row["ms"] = int(created.timestamp()) * 1000 + row["created_at_ms"]
    return row


def events(query: Query) -> list[dict]:
    """The events `query` selects, newest arrival first (or in event-time order). Raises on a
    ClickHouse error or timeout."""
    sql, params = _sql(query)
    reader = clickhouse.reader(TIMEOUT_SECONDS)
    try:
        return [_row(values) for values in reader.execute(sql, params)]
    finally:
        reader.disconnect()


PROFILE_COLUMNS = ("first_name", "last_name", "email", "avatar", "properties.key", "properties.value", "groups",
                   "created_at", "updated_at", "version")  # fmt: skip
PROFILE_SQL = (
    "SELECT {columns} FROM {db}.profiles FINAL WHERE project_id = %(project_id)s AND id = %(profile_id)s LIMIT 1"
)


def profile(project_id: str, profile_id: str) -> dict | None:
    """The newest stored version of a profile document, or None."""
    sql = PROFILE_SQL.format(columns=", ".join(PROFILE_COLUMNS), db=clickhouse.database())
    reader = clickhouse.reader(TIMEOUT_SECONDS)
    try:
        rows = reader.execute(sql, {"project_id": project_id, "profile_id": profile_id})
    finally:
        reader.disconnect()
    if not rows:
        return None
    document = dict(zip(PROFILE_COLUMNS, rows[0]))
    document["properties"] = dict(zip(document.pop("properties.key"), document.pop("properties.value")))
    return document
