"""The SQL of the admin's events explorer: latest events with filters, their count and hourly
volume, one event with every column, the event-name catalogue, a session, a profile.

Every query is parameterised and bounded by the project and a time range on `created_at` (the
table's sorting key starts with the project and the day): the arrived view, whose range is on
`received_at`, also bounds `created_at` by the backfill window before it (an event is refused when
older than that when it arrives). Lists end in a LIMIT and read `FINAL`, so that a re-sent row shows
once. Each runs on a connection of its own with short timeouts (clickhouse.reader): a slow or absent
ClickHouse costs the page a few seconds and an error message, never a hung web worker. Profiles that
were erased are hidden at once, before ClickHouse's mutation has rewritten the rows.
"""
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from contract.tables import EVENTS
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
# The two times a range can apply to: when the event happened, and when Spool received it.
EVENT_TIME, ARRIVED = "created_at", "received_at"
AHEAD = timedelta(days=1)  # an event time ahead of its arrival is clamped to it; a day covers any skew
CHART_NAMES = 8  # the chart's series: the busiest names, the rest summed as "other"
HOURLY_UP_TO = timedelta(days=31)  # longer ranges are charted per day (at most 400 points a series)


@dataclass(frozen=True)
class Query:
    project_id: str
    since: datetime
    until: datetime
    filters: tuple[tuple[str, str], ...] = ()  # (column of FILTERS, value)
    hidden_profiles: tuple[str, ...] = ()  # erased: not shown whatever the table still holds
    limit: int = 100
    oldest_first: bool = False
    by: str = EVENT_TIME  # the time the range applies to, and the order (newest first)
    backfill_days: int = 0  # ARRIVED: how far before its arrival an event time may lie
    property_filter: tuple[str, str | None] | None = None  # (key, value) or (key, None): holds the key


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _where(query: Query) -> tuple[list[str], dict]:
    if query.by not in (EVENT_TIME, ARRIVED):
        raise ValueError(f"cannot range over {query.by!r}")
    since, until = query.since, query.until
    if query.by == ARRIVED:
        since, until = since - timedelta(days=query.backfill_days + 1), until + AHEAD
    params: dict = {"project_id": query.project_id, "since": _epoch(since), "until": _epoch(until)}
    where = ["project_id = %(project_id)s", "created_at >= toDateTime(%(since)s)", "created_at < toDateTime(%(until)s)"]
    if query.by == ARRIVED:
        where += ["received_at >= toDateTime(%(arrived_since)s)", "received_at < toDateTime(%(arrived_until)s)"]
        params.update(arrived_since=_epoch(query.since), arrived_until=_epoch(query.until))
    for position, (column, value) in enumerate(query.filters):
        if column not in FILTERS:
            raise ValueError(f"cannot filter on {column!r}")
        where.append(f"{column} = %(filter_{position})s")
        params[f"filter_{position}"] = value
    if query.property_filter is not None:
        key, wanted = query.property_filter
        params["property_key"] = key
        if wanted is None:
            where.append("has(properties.key, %(property_key)s)")
        else:
            params["property_value"] = wanted
            where.append("arrayExists((k, v) -> k = %(property_key)s AND v = %(property_value)s, "
                         "properties.key, properties.value)")  # fmt: skip
    if query.hidden_profiles:
        where.append("profile_id NOT IN %(hidden)s")
        params["hidden"] = tuple(query.hidden_profiles)
    return where, params


def _sql(query: Query) -> tuple[str, dict]:
    where, params = _where(query)
    if query.oldest_first:
        order = "created_at, created_at_ms, id"
    elif query.by == ARRIVED:
        order = "received_at DESC, created_at DESC, created_at_ms DESC, id"
    else:
        order = "created_at DESC, created_at_ms DESC, id"
    params["limit"] = max(1, min(query.limit, MAX_ROWS))
    sql = (
        f"SELECT {', '.join(COLUMNS)} FROM {clickhouse.database()}.events FINAL "
        f"WHERE {' AND '.join(where)} ORDER BY {order} LIMIT %(limit)s"
    )
    return sql, params


def _execute(sql: str, params: dict) -> list:
    reader = clickhouse.reader(TIMEOUT_SECONDS)
    try:
        return reader.execute(sql, params)
    finally:
        reader.disconnect()


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _row(values: tuple) -> dict:
    row = dict(zip(COLUMNS, values))
    row["properties"] = dict(zip(row.pop("properties.key"), row.pop("properties.value")))
    row["id"] = str(row["id"])
    created = _utc(row["created_at"])
    row["ms"] = int(created.timestamp()) * 1000 + row["created_at_ms"]
    return row


def events(query: Query) -> list[dict]:
    """The events `query` selects, newest first by its time (or in event-time order). Raises on a
    ClickHouse error or timeout."""
    return [_row(values) for values in _execute(*_sql(query))]


def count(query: Query) -> int:
    """How many events `query` selects, whatever its limit."""
    where, params = _where(query)
    sql = f"SELECT count() FROM {clickhouse.database()}.events FINAL WHERE {' AND '.join(where)}"
    return _execute(sql, params)[0][0]


@dataclass(frozen=True)
class Volume:
    step: int  # seconds: an hour, or a day for a long range
    starts: list[int]  # epoch seconds of every step of the range, the empty ones too
    series: dict[str, list[int]]  # event name (or "other") -> a count per step


def volume(query: Query) -> Volume:
    """Events per hour (per day past HOURLY_UP_TO) and name over `query`'s range, by its time."""
    step = 3600 if query.until - query.since <= HOURLY_UP_TO else 86_400
    bucket = "toStartOfHour" if step == 3600 else "toStartOfDay"
    where, params = _where(query)
    sql = (
        f"SELECT toUInt32({bucket}({query.by})) AS start, name, count() FROM {clickhouse.database()}.events FINAL "
        f"WHERE {' AND '.join(where)} GROUP BY start, name"
    )
    first = _epoch(query.since) // step * step
    starts = list(range(first, _epoch(query.until), step))
    totals: dict[str, int] = {}
    counts: dict[tuple[str, int], int] = {}
    for start, name, number in _execute(sql, params):
        totals[name] = totals.get(name, 0) + number
        counts[(name, start)] = number
    busiest = sorted(totals, key=lambda name: (-totals[name], name))
    shown, rest = busiest[:CHART_NAMES], busiest[CHART_NAMES:]
    series = {name: [counts.get((name, start), 0) for start in starts] for name in shown}
    if rest:
        series["other"] = [sum(counts.get((name, start), 0) for name in rest) for start in starts]
    return Volume(step, starts, series)


def catalogue(project_id: str, hidden_profiles: tuple[str, ...] = ()) -> list[dict]:
    """Every event name of a project with its count, first and last event time and last arrival."""
    params: dict = {"project_id": project_id}
    where = "project_id = %(project_id)s"
    if hidden_profiles:
        where += " AND profile_id NOT IN %(hidden)s"
        params["hidden"] = tuple(hidden_profiles)
    sql = (
        f"SELECT name, count(), min(created_at), max(created_at), max(received_at) FROM {clickhouse.database()}.events "
        f"FINAL WHERE {where} GROUP BY name ORDER BY name LIMIT {MAX_ROWS}"
    )
    return [
        {"name": name, "events": number, "first": _utc(first), "last": _utc(last), "arrived": _utc(arrived)}
        for name, number, first, last, arrived in _execute(sql, params)
    ]


def event(
    project_id: str, event_id: str, since: datetime, until: datetime, hidden_profiles: tuple[str, ...] = ()
) -> dict | None:
    """One event as stored, every column of the table (`properties.key` and `.value` as ClickHouse
    holds them), found by its id between two event times; None when there is none."""
    columns = EVENTS.insert_columns
    params: dict = {"project_id": project_id, "id": event_id, "since": _epoch(since), "until": _epoch(until)}
    where = ("project_id = %(project_id)s AND id = toUUID(%(id)s) AND created_at >= toDateTime(%(since)s) "
             "AND created_at < toDateTime(%(until)s)")  # fmt: skip
    if hidden_profiles:
        where += " AND profile_id NOT IN %(hidden)s"
        params["hidden"] = tuple(hidden_profiles)
    sql = f"SELECT {', '.join(columns)} FROM {clickhouse.database()}.events FINAL WHERE {where} LIMIT 1"
    rows = _execute(sql, params)
    return dict(zip(columns, rows[0])) if rows else None


PROFILE_COLUMNS = ("first_name", "last_name", "email", "avatar", "properties.key", "properties.value", "groups",
                   "created_at", "updated_at", "version")  # fmt: skip
PROFILE_SQL = (
    "SELECT {columns} FROM {db}.profiles FINAL WHERE project_id = %(project_id)s AND id = %(profile_id)s LIMIT 1"
)


def profile(project_id: str, profile_id: str) -> dict | None:
    """The newest stored version of a profile document, or None."""
    sql = PROFILE_SQL.format(columns=", ".join(PROFILE_COLUMNS), db=clickhouse.database())
    rows = _execute(sql, {"project_id": project_id, "profile_id": profile_id})
    if not rows:
        return None
    document = dict(zip(PROFILE_COLUMNS, rows[0]))
    document["properties"] = dict(zip(document.pop("properties.key"), document.pop("properties.value")))
    return document
