"""A stored event row → the track envelope `export_events` writes, one NDJSON line, which
`replay_events` reads back (contract §9).

The envelope carries everything the pipeline reads back into the same row, in this project or
another (contract §9 r3): the exact time (`__timestamp`, to the millisecond), the device
(`__deviceId`), the row's own id (`__insertId` `spool:<id>`: a replay stores the row under the same
id, so a round trip into the same project stores nothing twice), the profile, groups, path,
referrer, revenue, the user-agent fields as stored (`__os`, ..., and `__device` always, `server`
included), the geo fields as stored (`__geo`) and the properties. A replay takes an exported row's
user-agent and geo fields as they are, whoever runs it from where (ingest/pipeline/prepare.py), so
its sessions are derived again as they were. What a replay cannot restore is said in
docs/operations.md.
"""
from datetime import UTC, date, datetime
from typing import Any

import orjson

from contract.messages import GEO
from ingest.enrich.ids import EXPORTED, exported_row_id
from ingest.enrich.properties import EXPORTED_GEO, UA_OVERRIDES

# Each agent column and the special property an export names it by (the override it reads back as).
AGENT = tuple((column, special) for special, column in UA_OVERRIDES.items())


def _iso(created_at: datetime, ms: int) -> str:
    moment = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
    return moment.replace(microsecond=ms * 1000).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(row: dict) -> dict:
    properties: dict = dict(row["properties"])
    properties["__timestamp"] = _iso(row["created_at"], row["created_at_ms"])
    properties["__deviceId"] = row["device_id"]
    properties["__insertId"] = f"{EXPORTED}{row['id']}"
    if row["path"]:
        properties["__path"] = row["origin"] + row["path"]
    if row["referrer"]:
        properties["__referrer"] = row["referrer"]
    if row["name"] == "revenue" and row["revenue"]:
        properties["__revenue"] = row["revenue"]
    properties.update({special: row[column] for column, special in AGENT if row[column] or column == "device"})
    geo = {column: row[column] for column in GEO if row[column] not in ("", None)}
    if geo:
        properties[EXPORTED_GEO] = geo
    payload: dict = {"name": row["name"], "properties": properties}
    if row["profile_id"] and row["profile_id"] != row["device_id"]:
        payload["profileId"] = row["profile_id"]
    if row["groups"]:
        payload["groups"] = list(row["groups"])
    return {"type": "track", "payload": payload}


def ndjson_line(row: dict) -> bytes:
    return orjson.dumps(envelope(row)) + b"\n"


def exported_identity(item: Any) -> tuple[str, date] | None:
    """(row id, UTC day) of a line that `export_events` wrote, else None (any other row)."""
    try:
        properties = item["payload"]["properties"]
        row_id = exported_row_id(str(properties["__insertId"]))
        day = date.fromisoformat(str(properties["__timestamp"])[:10])
    except (KeyError, TypeError, ValueError):
        return None
    return (row_id, day) if row_id else None
