"""Read what the worker wrote, as a reader of ClickHouse sees it (columns from contract/tables.py)."""
from contract.tables import EVENTS
from storage.clickhouse import client as clickhouse

# Every column but the project, which each reader filters on.
EVENT_COLUMNS = [name for name in EVENTS.insert_columns if name != "project_id"]


def events(project_id: str, where: str = "1", params: dict | None = None, final: bool = True) -> list[dict]:
    """Rows of the events table for a project, as dicts, oldest first."""
    columns = EVENT_COLUMNS
    sql = (
        f"SELECT {', '.join(columns)} FROM {clickhouse.database()}.events {'FINAL' if final else ''} "
        f"WHERE project_id = %(project_id)s AND ({where}) ORDER BY created_at, created_at_ms, name"
    )
    rows = clickhouse.execute(sql, {"project_id": project_id, **(params or {})})
    result = []
    for row in rows:
        item = dict(zip(columns, row))
        item["properties"] = dict(zip(item.pop("properties.key"), item.pop("properties.value")))
        item["id"] = str(item["id"])
        item["ms"] = int(item["created_at"].timestamp()) * 1000 + item["created_at_ms"] if item["created_at"] else 0
        result.append(item)
    return result


def count(project_id: str, where: str = "1", final: bool = True) -> int:
    sql = f"SELECT count() FROM {clickhouse.database()}.events {'FINAL' if final else ''} WHERE project_id = %(p)s AND ({where})"
    return clickhouse.execute(sql, {"p": project_id})[0][0]


def profile(project_id: str, profile_id: str) -> dict | None:
    """The newest version of a profile, as a reader of ClickHouse sees it."""
    rows = clickhouse.execute(
        f"SELECT first_name, last_name, email, avatar, properties.key, properties.value, groups, created_at, version "
        f"FROM {clickhouse.database()}.profiles FINAL WHERE project_id = %(p)s AND id = %(id)s",
        {"p": project_id, "id": profile_id},
    )
    if not rows:
        return None
    first, last, email, avatar, names, values, groups, created_at, version = rows[0]
    return {
        "first_name": first, "last_name": last, "email": email, "avatar": avatar,
        "properties": dict(zip(names, values)), "groups": groups, "created_at": created_at, "version": version,
    }  # fmt: skip


def group(project_id: str, group_id: str) -> dict | None:
    rows = clickhouse.execute(
        f"SELECT type, name, properties.key, properties.value FROM {clickhouse.database()}.groups FINAL "
        "WHERE project_id = %(p)s AND id = %(id)s",
        {"p": project_id, "id": group_id},
    )
    if not rows:
        return None
    kind, name, names, values = rows[0]
    return {"type": kind, "name": name, "properties": dict(zip(names, values))}
