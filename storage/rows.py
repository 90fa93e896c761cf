"""Queued events (storage.messages) → rows of the events table, keyed by its columns (storage.schema)."""
from storage.messages import JobContext, QueuedEvent
from storage.schema.tables import EVENTS

_BLANK = EVENTS.blank_row()
_TEXT_COLUMNS = ("path", "origin", "referrer", "referrer_name", "referrer_type")


def event_row(ctx: JobContext, event: QueuedEvent) -> dict:
    """One row from a queued track event and the request context it came with."""
    ms = event["ts"]
    properties = event.get("properties") or {}
    row = _BLANK.copy()
    row["id"] = event["id"]
    row["project_id"] = ctx["project_id"]
    row["name"] = event["name"]
    row["device_id"] = event["device_id"]
    row["profile_id"] = event.get("profile_id") or event["device_id"]
    row["session_id"] = event.get("session_id", "")
    row["created_at"] = ms // 1000
    row["created_at_ms"] = ms % 1000
    row["received_at"] = ctx["received_ms"] // 1000
    row["properties.key"] = list(properties.keys())
    row["properties.value"] = list(properties.values())
    row["groups"] = event.get("groups") or []
    row["revenue"] = event.get("revenue", 0)
    row["duration"] = event.get("duration", 0)
    row["sdk_name"] = ctx.get("sdk_name", "")
    row["sdk_version"] = ctx.get("sdk_version", "")
    for column in _TEXT_COLUMNS:
        row[column] = event.get(column, "")
    row.update(event.get("geo") or ctx["geo"])
    row.update(event.get("agent") or ctx["agent"])
    return row
