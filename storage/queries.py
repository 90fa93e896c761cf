"""The SQL Spool reads ClickHouse with (and the one mutation it runs), each behind a function that takes
and returns plain values. Every query is parameterised (clickhouse-driver's %(name)s); nothing from a
request is spliced in."""
from collections.abc import Iterator
from datetime import date

from django.conf import settings

from storage import clickhouse
from storage.schema.tables import EVENTS, GROUPS, PROFILES

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()  # a UTC day number (ms // 86_400_000) + this = date.toordinal()

DOCUMENTS_SQL = "SELECT {columns} FROM {db}.{table} FINAL WHERE project_id = %(project_id)s AND id IN %(ids)s"
PROFILE_IDS_SQL = "SELECT DISTINCT project_id, id FROM {db}.profiles"
STORED_EVENT_IDS_SQL = (
    "SELECT DISTINCT toString(id) FROM {db}.events WHERE project_id = %(project_id)s "
    "AND toDate(created_at) IN %(days)s AND id IN %(ids)s"
)

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

# One row per historical session: what its session_end needs, from its stored events (FINAL: a
# re-sent event counts once).
SESSION_STATS_COLUMNS = (
    "session_id", "device_id", "first_ms", "last_ms", "screen_views", "exit_path", "profile_id",
    "origin", "referrer", "referrer_name", "referrer_type",
    "country", "city", "region", "latitude", "longitude",
    "os", "os_version", "browser", "browser_version", "device", "brand", "model", "sdk_name", "sdk_version",
)  # fmt: skip
SESSION_STATS_SQL = """
SELECT
    session_id,
    argMin(device_id, t), min(t), max(t),
    countIf(name = 'screen_view'),
    argMaxIf(path, t, path != ''),
    argMaxIf(profile_id, t, profile_id != device_id),
    argMin(origin, t), argMin(referrer, t), argMin(referrer_name, t), argMin(referrer_type, t),
    argMin(country, t), argMin(city, t), argMin(region, t), argMin(latitude, t), argMin(longitude, t),
    argMin(os, t), argMin(os_version, t), argMin(browser, t), argMin(browser_version, t),
    argMin(device, t), argMin(brand, t), argMin(model, t),
    argMin(sdk_name, t), argMin(sdk_version, t)
FROM (
    SELECT *, toUInt64(created_at) * 1000 + created_at_ms AS t
    FROM {db}.events FINAL
    WHERE project_id = %(project_id)s
      AND toDate(created_at) IN %(dates)s
      AND session_id IN %(sessions)s
      AND name NOT IN ('session_start', 'session_end')
)
GROUP BY session_id
"""

# Columns of sessions' start rows (the earliest event's row, renamed). A start row re-inserted with an
# earlier time (contract §7 r2) may be there twice until merged: the earliest is the one that stands.
START_CONTEXTS_SQL = """
SELECT project_id, session_id, {columns}
FROM (
    SELECT *, toUInt64(created_at) * 1000 + created_at_ms AS t
    FROM {db}.events
    WHERE project_id IN %(projects)s AND toDate(created_at) IN %(dates)s AND name = 'session_start'
      AND id IN %(ids)s
)
GROUP BY project_id, session_id
"""
# Screen views of sessions, each row id once (a row sent again counts once, merged or not).
SCREEN_VIEWS_SQL = """
SELECT session_id, uniqExact(id)
FROM {db}.events
WHERE project_id = %(project_id)s AND toDate(created_at) IN %(dates)s AND name = 'screen_view'
  AND session_id IN %(sessions)s
GROUP BY session_id
"""

# The start rows a historical session has (min: a row not yet replaced, or left on a later day, is
# never earlier than the session's best start).
STORED_STARTS_SQL = """
SELECT session_id, min(toUInt64(created_at) * 1000 + created_at_ms)
FROM {db}.events
WHERE project_id = %(project_id)s AND toDate(created_at) IN %(dates)s AND name = 'session_start'
  AND session_id IN %(sessions)s
GROUP BY session_id
"""
# Start rows that a start moved to the day before left behind (a mutation: rare, batched by the sweep).
DELETE_STARTS_SQL = (
    "ALTER TABLE {table} DELETE WHERE name = 'session_start' "
    "AND (project_id, toString(id), toString(toDate(created_at))) IN %(rows)s"
)


def documents_sql(kind: str, db: str) -> str:
    table = PROFILES if kind == "profile" else GROUPS
    return DOCUMENTS_SQL.format(columns=", ".join(table.insert_columns), db=db, table=table.name)


def stored_documents(kind: str, project_id: str, ids: list[str]) -> list[dict]:
    """The newest stored version of profiles or groups (`kind`: "profile" | "group"), as column dicts."""
    if not ids:
        return []
    table = PROFILES if kind == "profile" else GROUPS
    rows = clickhouse.execute(documents_sql(kind, clickhouse.database()), {"project_id": project_id, "ids": tuple(ids)})
    return [dict(zip(table.insert_columns, row)) for row in rows]


def profile_ids() -> Iterator[tuple[str, str]]:
    """(project id, profile id) of every stored profile, streamed in blocks."""
    return clickhouse.execute_iter(PROFILE_IDS_SQL.format(db=clickhouse.database()))


def session_stats(project_id: str, dates: set[date], session_ids: list[str]) -> dict[str, dict]:
    """{session id: its SESSION_STATS_COLUMNS} for the sessions that have stored events on `dates`."""
    rows = clickhouse.execute(
        SESSION_STATS_SQL.format(db=clickhouse.database()),
        {"project_id": project_id, "dates": tuple(sorted(dates)), "sessions": tuple(session_ids)},
    )
    return {row[0]: dict(zip(SESSION_STATS_COLUMNS, row)) for row in rows}


def start_contexts(
    projects: set[str], dates: set[date], ids: list[str], columns: tuple[str, ...]
) -> dict[tuple[str, str], dict]:
    """{(project id, session id): {column: value}} from the session_start rows of those ids (of those
    projects, on `dates`): one query for any number of projects. `columns` are the events table's."""
    unknown = set(columns) - set(EVENTS.insert_columns)
    if unknown:
        raise ValueError(f"not columns of {EVENTS.name}: {sorted(unknown)}")
    picked = ", ".join(f"argMin({column}, t)" for column in columns)
    rows = clickhouse.execute(
        START_CONTEXTS_SQL.format(columns=picked, db=clickhouse.database()),
        {"projects": tuple(sorted(projects)), "dates": tuple(sorted(dates)), "ids": tuple(ids)},
    )
    return {(row[0], row[1]): dict(zip(columns, row[2:])) for row in rows}


def screen_views(project_id: str, dates: set[date], session_ids: list[str]) -> dict[str, int]:
    """{session id: its stored screen_view rows, each id once} for sessions with such rows on `dates`."""
    rows = clickhouse.execute(
        SCREEN_VIEWS_SQL.format(db=clickhouse.database()),
        {"project_id": project_id, "dates": tuple(sorted(dates)), "sessions": tuple(session_ids)},
    )
    return dict(rows)


def stored_starts(project_id: str, dates: set[date], session_ids: list[str]) -> dict[str, int]:
    """{session id: ms} of the earliest stored session_start of each session, on `dates`."""
    rows = clickhouse.execute(
        STORED_STARTS_SQL.format(db=clickhouse.database()),
        {"project_id": project_id, "dates": tuple(sorted(dates)), "sessions": tuple(session_ids)},
    )
    return {session_id: ms for session_id, ms in rows}


def delete_starts(rows: list[tuple[str, str, str]]) -> None:
    """Delete the session_start rows (project id, row id, day "YYYY-MM-DD"). On a cluster, the
    mutation runs on every node's local table."""
    cluster = settings.CLICKHOUSE_CLUSTER
    db = clickhouse.database()
    table = f"{db}.events_local ON CLUSTER {cluster}" if cluster else f"{db}.events"
    clickhouse.execute(DELETE_STARTS_SQL.format(table=table), {"rows": tuple(rows)})


def stored_event_ids(project_id: str, days: set[date], ids: list[str]) -> set[str]:
    """The ids among `ids` that the events table holds on those days (the days narrow the read to
    their part of the sorting key)."""
    if not ids:
        return set()
    sql = STORED_EVENT_IDS_SQL.format(db=clickhouse.database())
    rows = clickhouse.execute(sql, {"project_id": project_id, "days": tuple(sorted(days)), "ids": tuple(ids)})
    return {row[0] for row in rows}


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
