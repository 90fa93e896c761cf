"""Queued events (plain dicts) → ClickHouse rows of the events table."""
_TEXT_COLUMNS = ("path", "origin", "referrer", "referrer_name", "referrer_type")


def event_row(ctx: dict, event: dict) -> dict:
    """One row from a queued track event and the request context it came with."""
    ms = event["ts"]
    geo = event.get("geo") or ctx["geo"]
    agent = event.get("agent") or ctx["agent"]
    properties = event.get("properties") or {}
    row = {
        "id": event["id"],
        "project_id": ctx["project_id"],
        "name": event["name"],
        "device_id": event["device_id"],
        "profile_id": event.get("profile_id") or event["device_id"],
        "session_id": event.get("session_id", ""),
        "created_at": ms // 1000,
        "created_at_ms": ms % 1000,
        "received_at": ctx["received_ms"] // 1000,
        "properties.key": list(properties.keys()),
        "properties.value": list(properties.values()),
        "groups": event.get("groups") or [],
        "revenue": event.get("revenue", 0),
        "duration": event.get("duration", 0),
        "sdk_name": ctx.get("sdk_name", ""),
        "sdk_version": ctx.get("sdk_version", ""),
    }
    for column in _TEXT_COLUMNS:
        row[column] = event.get(column, "")
    row.update(geo)
    row.update(agent)
    return row

