"""Queued events (contract.messages) → rows of the events table, keyed by its columns (storage.clickhouse.schema);
and the check of a row against its table's column types."""
import functools
import re
from collections.abc import Callable
from datetime import date

from contract.messages import JobContext, QueuedEvent
from contract.tables import EVENTS, Table

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


# --- what the driver would refuse ------------------------------------------------------------------
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
_BITS = {"UInt8": 8, "UInt16": 16, "UInt32": 32, "UInt64": 64}


def is_uuid(value: object) -> bool:
    return isinstance(value, str) and bool(_UUID.match(value))


def _accepts(kind: str) -> Callable[[object], bool]:
    """Whether clickhouse-driver can send a value as a column of type `kind` (the types of tables.py)."""
    if kind.startswith("Nullable("):
        inner = _accepts(kind[len("Nullable(") : -1])
        return lambda value: value is None or inner(value)
    if kind.startswith("Array("):
        item = _accepts(kind[len("Array(") : -1])
        return lambda value: isinstance(value, (list, tuple)) and all(item(part) for part in value)
    if kind == "UUID":
        return is_uuid
    if kind.startswith("DateTime"):
        return lambda value: type(value) is int and 0 <= value < 2**32
    if kind == "Date":
        return lambda value: type(value) is date and value.year < 2106  # 18.16's Date: days since 1970 in 16 bits
    if kind in _BITS:
        top = 2 ** _BITS[kind]
        return lambda value: type(value) is int and 0 <= value < top
    if kind.startswith("Float"):
        return lambda value: type(value) in (int, float)
    return lambda value: isinstance(value, str)


@functools.cache
def _checks(table: Table) -> tuple[tuple[str, Callable[[object], bool]], ...]:
    return tuple((name, _accepts(kind)) for name, kind in table.stored)


def problem(table: Table, row: dict) -> str:
    """Why ClickHouse would refuse this row ("" when it would take it): the column and its value."""
    for name, accepts in _checks(table):
        if not accepts(row.get(name)):
            return f"{table.name}.{name}: cannot store {str(row.get(name))[:80]!r}"
    return ""
