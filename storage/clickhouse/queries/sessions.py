"""The SQL of sessions' ends and starts (sessions_app): stats of historical sessions from their stored
events, start rows, screen views, and the one mutation Spool runs (start rows left behind). Every query
is parameterised (clickhouse-driver's %(name)s); nothing from a request is spliced in."""
from datetime import date

from django.conf import settings

from contract.messages import AGENT, GEO
from contract.tables import EVENTS
from storage.clickhouse import client as clickhouse

# One row per historical session: what its session_end needs, from its stored events (FINAL: a
# re-sent event counts once).
SESSION_STATS_COLUMNS = (
    "session_id", "device_id", "first_ms", "last_ms", "screen_views", "exit_path", "profile_id",
    "origin", "referrer", "referrer_name", "referrer_type",
    *GEO, *AGENT, "sdk_name", "sdk_version",
)  # fmt: skip
_FIRST = ("origin", "referrer", "referrer_name", "referrer_type", *GEO, *AGENT, "sdk_name", "sdk_version")
SESSION_STATS_SQL = """
SELECT
    session_id,
    argMin(device_id, t), min(t), max(t),
    countIf(name = 'screen_view'),
    argMaxIf(path, t, path != ''),
    argMaxIf(profile_id, t, profile_id != device_id),
    {first}
FROM (
    SELECT *, toUInt64(created_at) * 1000 + created_at_ms AS t
    FROM {db}.events FINAL
    WHERE project_id = %(project_id)s
      AND toDate(created_at) IN %(dates)s
      AND session_id IN %(sessions)s
      AND name NOT IN ('session_start', 'session_end')
)
GROUP BY session_id
""".replace("{first}", ", ".join(f"argMin({column}, t)" for column in _FIRST))

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
