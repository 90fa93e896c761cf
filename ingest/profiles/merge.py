"""How one change (identify, increment / decrement, group, assign_group) merges into a profile or
group document, within the documents' limits. Pure: the worker loads and stores the documents
(ingest/profiles/apply.py)."""
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from contract.messages import AGENT, GEO, SERVER_DEVICE, JobContext, ProfileChange
from contract.tables import COORDINATES, GROUPS, PROFILES
from ingest.enrich.properties import scalar_text

IDENTITY_FIELDS = ("first_name", "last_name", "email", "avatar")
# The request's geo and agent fields that a profile keeps as properties (not the coordinates).
REQUEST_FIELDS = tuple(name for name in (*GEO, *AGENT) if name not in COORDINATES)
_INTEGER = re.compile(r"^-?\d+$")
PROFILE_CHANGES = ("identify", "increment", "decrement", "assign_group")


class Invalid(ValueError):
    """A change that cannot be applied at all (the worker sets it aside)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """At most this many property keys per document, and groups per profile (contract §7 r2)."""

    properties: int
    groups: int


def target(change: Any) -> tuple[str, str]:
    """("profile" | "group", its id): the document a change applies to. Raises Invalid."""
    kind = change.get("type") if isinstance(change, dict) else None
    if kind == "group":
        found, name, doc_kind = change.get("id"), "group id", "group"
    elif kind in PROFILE_CHANGES:
        found, name, doc_kind = change.get("profile_id"), "profile id", "profile"
    else:
        raise Invalid(f"unknown change type {kind!r}")
    # A blank id: the previous release queued `identify {"profileId": ""}` as None (issue 9).
    if not isinstance(found, str) or not found.strip():
        raise Invalid(f"blank {name} ({found!r})")
    return doc_kind, found


def new_document(kind: str, project_id: str, doc_id: str, now_ms: int) -> dict:
    doc = {"id": doc_id, "project_id": project_id, "properties": {}, "created_ms": now_ms, "version": 0, "sequence": 0}
    if kind == "profile":
        doc.update({field: "" for field in IDENTITY_FIELDS}, groups=[])
    else:
        doc.update(type="", name="")
    return doc


def document_from_row(row: dict) -> dict:
    """A document from its stored row (storage.clickhouse.queries.profiles.stored_documents)."""
    values = dict(row)
    doc = {
        "properties": dict(zip(values.pop("properties.key"), values.pop("properties.value"))),
        "created_ms": int(values.pop("created_at").timestamp() * 1000),
        "sequence": 0,
    }
    values.pop("updated_at")
    doc.update(values)
    return doc


def row_of(kind: str, doc: dict, now_ms: int) -> dict:
    """The row that stores this version of a document."""
    table = PROFILES if kind == "profile" else GROUPS
    row = {name: doc.get(name, "") for name in table.insert_columns}
    row["properties.key"] = list(doc["properties"])
    row["properties.value"] = list(doc["properties"].values())
    row["created_at"] = doc["created_ms"] // 1000
    row["updated_at"] = now_ms // 1000
    row["version"] = doc["version"]
    if kind == "profile":
        row["groups"] = doc.get("groups", [])
    return row


def _merge_nonempty(target: dict, values: dict) -> None:
    for key, value in values.items():
        if value not in (None, ""):
            target[key] = value


def _merge_within(properties: dict, values: dict, limit: int) -> int:
    """Merge non-empty values; a key the document lacks is added only while it has room. Returns how
    many keys found no room."""
    refused = 0
    for key, value in values.items():
        if value in (None, ""):
            continue
        if key not in properties and len(properties) >= limit:
            refused += 1
            continue
        properties[key] = value
    return refused


def _texts(value: object, what: str) -> dict:
    """A properties object of text keys and text values (what the API queues), or Invalid."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise Invalid(f"{what}: expected an object of text values")
    return value


def _text(change: Mapping[str, object], field: str) -> str:
    value = change.get(field, "")
    if not isinstance(value, str):
        raise Invalid(f"{field}: expected text, not {type(value).__name__}")
    return value


def _step(change: Mapping[str, object]) -> int | float:
    value = change.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
        raise Invalid(f"value: expected a number, not {value!r}"[:200])
    return value if change["type"] == "increment" else -value


def _finite(value: int | float) -> bool:
    return isinstance(value, int) or math.isfinite(value)  # an int of any size is exact


def _number(text: str | None) -> int | float:
    if text is None or text == "":
        return 0
    if _INTEGER.match(text):
        return int(text)
    try:
        return float(text)  # "inf", "nan" and "1e400" read as non-finite: _sum refuses them
    except ValueError:
        return 0  # a property that is not a number restarts from zero


def _sum(current: int | float, step: int | float) -> int | float | None:
    """current + step, or None when that is not a finite number: past the float range (1e308 +
    1e308), from a non-finite property, or a huge integer plus a float (OverflowError)."""
    try:
        result = current + step
    except OverflowError:
        return None
    return result if _finite(result) else None


def apply(doc: dict, ctx: JobContext, change: ProfileChange, limits: Limits) -> tuple[dict, int]:
    """`doc` with `change` (sent with the request context `ctx`) merged in, and how many property
    keys, groups or increments went beyond `limits` or beyond what a number holds (dropped). `doc`
    itself is left as it was. Raises Invalid (or another error) for a change that cannot be applied."""
    doc = {**doc, "properties": dict(doc["properties"])}
    properties = doc["properties"]
    refused = 0
    if change["type"] == "identify":
        _merge_nonempty(doc, {field: _text(change, field) for field in IDENTITY_FIELDS})
        request = {**ctx["geo"], **ctx["agent"]}
        context = {field: scalar_text(request.get(field)) for field in REQUEST_FIELDS}
        if context.get("device") == SERVER_DEVICE:
            context = {field: value for field, value in context.items() if field not in ("device",)}
        refused += _merge_within(properties, context, limits.properties)
        refused += _merge_within(properties, _texts(change.get("properties"), "properties"), limits.properties)
    elif change["type"] == "increment" or change["type"] == "decrement":
        name, step = _text(change, "property"), _step(change)
        if not name:
            raise Invalid("property: blank")
        result = _sum(_number(properties.get(name)), step)
        if result is None:  # never "inf" or "nan": the property keeps its value, the change is counted
            return doc, refused + 1
        refused += _merge_within(properties, {name: repr(result) if isinstance(result, float) else str(result)},
                                 limits.properties)  # fmt: skip
    elif change["type"] == "assign_group":
        wanted = change.get("group_ids")
        if not isinstance(wanted, list) or not all(isinstance(group, str) for group in wanted):
            raise Invalid("group_ids: expected a list of text")
        existing = doc.get("groups", [])
        added = [group for group in dict.fromkeys(wanted) if group not in existing]
        room = max(0, limits.groups - len(existing))
        doc["groups"] = [*existing, *added[:room]]
        refused += len(added[room:])
    elif change["type"] == "group":
        doc["type"], doc["name"] = _text(change, "group_type"), _text(change, "name")
        refused += _merge_within(properties, _texts(change.get("properties"), "properties"), limits.properties)
    return doc, refused
