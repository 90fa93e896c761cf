"""The tables Spool writes, each defined once: column names with their ClickHouse types.

New migrations take their DDL from here, inserts their column lists, the row builders their keys
(and the blank value of each column), and the tests their readers. Applied migrations stay as they
were written; tests/integration/test_schema.py checks that the tables they create match these.
"""
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from contract.messages import AGENT, GEO


def _blank(kind: str) -> Any:
    """The value a column holds when a row says nothing about it."""
    if kind.startswith("Nullable("):
        return None
    if kind.startswith(("UInt", "Int")):
        return 0
    if kind.startswith("Float"):
        return 0.0
    if kind.startswith("Array("):
        return ()  # immutable, so that every blank row may share it
    return ""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, type); a Nested column is one entry

    def ddl_columns(self) -> str:
        """The column list of a CREATE TABLE."""
        return ",\n".join(f"    {name} {kind}" for name, kind in self.columns)

    @cached_property
    def stored(self) -> tuple[tuple[str, str], ...]:
        """Columns as ClickHouse stores and inserts them: `properties.key Array(String)` for a Nested one."""
        flat = []
        for name, kind in self.columns:
            if kind.startswith("Nested("):
                for part in kind[len("Nested(") : -1].split(","):
                    sub, sub_kind = part.split()
                    flat.append((f"{name}.{sub}", f"Array({sub_kind})"))
            else:
                flat.append((name, kind))
        return tuple(flat)

    @cached_property
    def insert_columns(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.stored)

    def blank_row(self) -> dict:
        """A row with every column, in table order, holding its blank value."""
        return {name: _blank(kind) for name, kind in self.stored}


PROPERTIES = "Nested(key String, value String)"

COORDINATES = ("latitude", "longitude")  # of the geo group, the only fields that are not text

EVENTS = Table(
    "events",
    (
        ("id", "UUID"),
        ("project_id", "String"),
        ("name", "String"),
        ("device_id", "String"),
        ("profile_id", "String"),
        ("session_id", "String"),
        ("created_at", "DateTime('UTC')"),
        ("created_at_ms", "UInt16"),
        ("received_at", "DateTime('UTC')"),
        ("properties", PROPERTIES),
        ("groups", "Array(String)"),
        ("path", "String"),
        ("origin", "String"),
        ("referrer", "String"),
        ("referrer_name", "String"),
        ("referrer_type", "String"),
        ("revenue", "UInt64"),
        ("duration", "UInt64"),
        *((name, "Nullable(Float32)" if name in COORDINATES else "String") for name in GEO),
        *((name, "String") for name in AGENT),
        ("sdk_name", "String"),
        ("sdk_version", "String"),
    ),
)

PROFILES = Table(
    "profiles",
    (
        ("id", "String"),
        ("project_id", "String"),
        ("first_name", "String"),
        ("last_name", "String"),
        ("email", "String"),
        ("avatar", "String"),
        ("properties", PROPERTIES),
        ("groups", "Array(String)"),
        ("created_at", "DateTime('UTC')"),
        ("updated_at", "DateTime('UTC')"),
        ("version", "UInt64"),
    ),
)

GROUPS = Table(
    "groups",
    (
        ("id", "String"),
        ("project_id", "String"),
        ("type", "String"),
        ("name", "String"),
        ("properties", PROPERTIES),
        ("created_at", "DateTime('UTC')"),
        ("updated_at", "DateTime('UTC')"),
        ("version", "UInt64"),
    ),
)

# The day a stored event is on, by its id, for the events whose other copies (retries) may arrive
# for another day: a clock-ahead event stored at its arrival, a skew-corrected one (contract §5).
# `natural_day` is the day of its time as sent. ingest/worker/copies.py writes and reads it.
EVENT_DAYS = Table(
    "event_days",
    (
        ("project_id", "String"),
        ("id", "UUID"),
        ("natural_day", "Date"),
        ("stored_day", "Date"),
    ),
)

ALL = (EVENTS, PROFILES, GROUPS, EVENT_DAYS)
