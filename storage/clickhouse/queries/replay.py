"""The SQL of `manage.py replay_events` (ingest/replay): which of a file's events are stored already."""
from datetime import date

from storage.clickhouse import client as clickhouse

STORED_EVENT_IDS_SQL = (
    "SELECT DISTINCT toString(id) FROM {db}.events WHERE project_id = %(project_id)s "
    "AND toDate(created_at) IN %(days)s AND id IN %(ids)s"
)


def stored_event_ids(project_id: str, days: set[date], ids: list[str]) -> set[str]:
    """The ids among `ids` that the events table holds on those days (the days narrow the read to
    their part of the sorting key)."""
    if not ids:
        return set()
    sql = STORED_EVENT_IDS_SQL.format(db=clickhouse.database())
    rows = clickhouse.execute(sql, {"project_id": project_id, "days": tuple(sorted(days)), "ids": tuple(ids)})
    return {row[0] for row in rows}
