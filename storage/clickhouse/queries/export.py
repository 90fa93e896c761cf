"""The rows `manage.py export_events` writes out, streamed from ClickHouse block by block (memory
stays flat however many rows a project has). Read with FINAL: a re-sent row is exported once."""
from collections.abc import Iterator
from datetime import datetime

from contract.messages import AGENT, GEO
from storage.clickhouse import client as clickhouse

COLUMNS = (
    "id", "name", "device_id", "profile_id", "created_at", "created_at_ms", "properties.key", "properties.value",
    "groups", "path", "origin", "referrer", "revenue", *AGENT, *GEO,
)  # fmt: skip
BLOCK_ROWS = 10_000


def rows(project_id: str, since: datetime, until: datetime, profile_id: str = "") -> Iterator[dict]:
    """The project's event rows with `since <= created_at < until` (and the profile, if given),
    oldest first. Session rows are left out: the pipeline writes them again for replayed events."""
    where = [
        "project_id = %(project_id)s",
        "created_at >= toDateTime(%(since)s)",
        "created_at < toDateTime(%(until)s)",
        "name NOT IN ('session_start', 'session_end')",
    ]
    params = {"project_id": project_id, "since": int(since.timestamp()), "until": int(until.timestamp())}
    if profile_id:
        where.append("profile_id = %(profile_id)s")
        params["profile_id"] = profile_id
    sql = (
        f"SELECT {', '.join(COLUMNS)} FROM {clickhouse.database()}.events FINAL WHERE {' AND '.join(where)} "
        "ORDER BY created_at, created_at_ms, id"
    )
    for values in clickhouse.client().execute_iter(sql, params, settings={"max_block_size": BLOCK_ROWS}):
        row = dict(zip(COLUMNS, values))
        row["properties"] = dict(zip(row.pop("properties.key"), row.pop("properties.value")))
        yield row
