"""How one change (identify, increment / decrement, group, assign_group) merges into a profile or
group document. Pure: the worker loads and stores the documents (ingest/profiles/apply.py)."""
import re

from ingest.enrich.properties import scalar_text
from storage.messages import SERVER_DEVICE, JobContext, ProfileChange
from storage.schema.tables import GROUPS, PROFILES

IDENTITY_FIELDS = ("first_name", "last_name", "email", "avatar")
REQUEST_FIELDS = (
    "country", "city", "region", "os", "os_version", "browser", "browser_version", "device", "brand", "model",
)  # fmt: skip
_INTEGER = re.compile(r"^-?\d+$")


def target(change: ProfileChange) -> tuple[str, str]:
    """("profile" | "group", its id): the document a change applies to."""
    if change["type"] == "group":
        return "group", change["id"]
    return "profile", change["profile_id"]


def new_document(kind: str, project_id: str, doc_id: str, now_ms: int) -> dict:
    doc = {"id": doc_id, "project_id": project_id, "properties": {}, "created_ms": now_ms, "version": 0, "sequence": 0}
    if kind == "profile":
        doc.update({field: "" for field in IDENTITY_FIELDS}, groups=[])
    else:
        doc.update(type="", name="")
    return doc


def document_from_row(row: dict) -> dict:
    """A document from its stored row (storage.queries.stored_documents)."""
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


def _number(text: str | None):
    if text is None or text == "":
        return 0
    if _INTEGER.match(text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return 0  # a property that is not a number restarts from zero


def apply(doc: dict, ctx: JobContext, change: ProfileChange) -> None:
    """Merge `change` (sent with the request context `ctx`) into `doc`, in place."""
    kind = change["type"]
    if change["type"] == "identify":
        _merge_nonempty(doc, {field: change.get(field, "") for field in IDENTITY_FIELDS})
        request = {**ctx["geo"], **ctx["agent"]}
        context = {field: scalar_text(request.get(field)) for field in REQUEST_FIELDS}
        if context.get("device") == SERVER_DEVICE:
            context = {field: value for field, value in context.items() if field not in ("device",)}
        _merge_nonempty(doc["properties"], context)
        _merge_nonempty(doc["properties"], change.get("properties") or {})
    elif change["type"] == "increment" or change["type"] == "decrement":
        current = _number(doc["properties"].get(change["property"]))
        step = change["value"] if kind == "increment" else -change["value"]
        result = current + step
        doc["properties"][change["property"]] = repr(result) if isinstance(result, float) else str(result)
    elif change["type"] == "assign_group":
        doc["groups"] = list(dict.fromkeys([*doc.get("groups", []), *change["group_ids"]]))
    elif change["type"] == "group":
        doc["type"], doc["name"] = change["group_type"], change["name"]
        _merge_nonempty(doc["properties"], change.get("properties") or {})
