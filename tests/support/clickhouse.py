"""Read what the worker wrote."""
from ingest import store


def events(project_id: str, where: str = "1", params: dict | None = None, final: bool = True) -> list[dict]:
    """Rows of the events table for a project, as dicts, oldest first."""
    columns = [
        "id", "name", "device_id", "profile_id", "session_id", "created_at", "created_at_ms", "received_at",
        "properties.key", "properties.value", "groups", "path", "origin", "referrer", "referrer_name",
        "referrer_type", "revenue", "duration", "country", "city", "region", "latitude", "longitude",
        "os", "os_version", "browser", "browser_version", "device", "brand", "model", "sdk_name", "sdk_version",
    ]  # fmt: skip
    sql = (
        f"SELECT {', '.join(columns)} FROM {store.database()}.events {'FINAL' if final else ''} "
        f"WHERE project_id = %(project_id)s AND ({where}) ORDER BY created_at, created_at_ms, name"
    )
    rows = store.execute(sql, {"project_id": project_id, **(params or {})})
    result = []
    for row in rows:
        item = dict(zip(columns, row))
        item["properties"] = dict(zip(item.pop("properties.key"), item.pop("properties.value")))
        item["id"] = str(item["id"])
        item["ms"] = int(item["created_at"].timestamp()) * 1000 + item["created_at_ms"] if item["created_at"] else 0
        result.append(item)
    return result


def count(project_id: str, where: str = "1", final: bool = True) -> int:
    sql = f"SELECT count() FROM {store.database()}.events {'FINAL' if final else ''} WHERE project_id = %(p)s AND ({where})"
    return store.execute(sql, {"p": project_id})[0][0]
