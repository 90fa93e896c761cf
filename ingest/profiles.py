"""Profiles and groups (spec §7): identify, increment / decrement, group, assign_group.

Changes arrive through the ordered `profiles` buffer (ingest/queue.py), so they are applied in the
order they were sent. Each profile (and group) has a current document in Redis, the source of
truth for merging; every change writes a new version to ClickHouse, where
ReplacingMergeTree(version) keeps the newest. A short Redis lock per document guards against a
second drainer. A document remembers the sequence number of the last packet applied to it: a
drain re-run after a crash does not apply an increment twice, it only writes the version again.
"""
import re
from collections import defaultdict

import orjson

from ingest import keys, store
from ingest.enrich.properties import scalar_text

PROFILE_COLUMNS = (
    "id", "project_id", "first_name", "last_name", "email", "avatar", "properties.key", "properties.value",
    "groups", "created_at", "updated_at", "version",
)  # fmt: skip
GROUP_COLUMNS = (
    "id", "project_id", "type", "name", "properties.key", "properties.value", "created_at", "updated_at", "version",
)  # fmt: skip
IDENTITY_FIELDS = ("first_name", "last_name", "email", "avatar")
REQUEST_FIELDS = (
    "country", "city", "region", "os", "os_version", "browser", "browser_version", "device", "brand", "model",
)  # fmt: skip
STORED_SQL = "SELECT {columns} FROM {db}.{table} FINAL WHERE project_id = %(project_id)s AND id IN %(ids)s"
EXISTING_SQL = "SELECT DISTINCT id FROM {db}.profiles WHERE project_id = %(project_id)s AND id IN %(ids)s"
DOC_SECONDS = 30 * 86_400
KNOWN_SECONDS = 30 * 86_400
LOCK_MS = 10_000
_INTEGER = re.compile(r"^-?\d+$")


class LockTimeout(RuntimeError):
    """Another drainer held a document longer than a lock lasts: the job fails and is retried."""


# --- documents ------------------------------------------------------------------------------------
def _stored(kind: str, project_id: str, ids: list[str]) -> dict[str, dict]:
    """The newest stored version of documents that Redis no longer holds."""
    if not ids:
        return {}
    table = "profiles" if kind == "profile" else "groups"
    columns = PROFILE_COLUMNS if kind == "profile" else GROUP_COLUMNS
    query = STORED_SQL.format(columns=", ".join(columns), db=store.database(), table=table)
    rows = store.execute(query, {"project_id": project_id, "ids": tuple(ids)})
    found = {}
    for row in rows:
        values = dict(zip(columns, row))
        doc = {
            "properties": dict(zip(values.pop("properties.key"), values.pop("properties.value"))),
            "created_ms": int(values.pop("created_at").timestamp() * 1000),
            "sequence": 0,
        }
        values.pop("updated_at")
        doc.update(values)
        found[doc["id"]] = doc
    return found


def _new_doc(kind: str, project_id: str, doc_id: str, now_ms: int) -> dict:
    doc = {"id": doc_id, "project_id": project_id, "properties": {}, "created_ms": now_ms, "version": 0, "sequence": 0}
    if kind == "profile":
        doc.update({field: "" for field in IDENTITY_FIELDS}, groups=[])
    else:
        doc.update(type="", name="")
    return doc


def _row(kind: str, doc: dict, now_ms: int) -> dict:
    row = {name: doc.get(name, "") for name in (PROFILE_COLUMNS if kind == "profile" else GROUP_COLUMNS)}
    row["properties.key"] = list(doc["properties"])
    row["properties.value"] = list(doc["properties"].values())
    row["created_at"] = doc["created_ms"] // 1000
    row["updated_at"] = now_ms // 1000
    row["version"] = doc["version"]
    if kind == "profile":
        row["groups"] = doc.get("groups", [])
    return row


# --- changes ----------------------------------------------------------------------------------------
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


def _apply(doc: dict, ctx: dict, change: dict) -> None:
    kind = change["type"]
    if kind == "identify":
        _merge_nonempty(doc, {field: change.get(field, "") for field in IDENTITY_FIELDS})
        request = {**ctx["geo"], **ctx["agent"]}
        context = {field: scalar_text(request.get(field)) for field in REQUEST_FIELDS}
        if context.get("device") == "server":
            context = {field: value for field, value in context.items() if field not in ("device",)}
        _merge_nonempty(doc["properties"], context)
        _merge_nonempty(doc["properties"], change.get("properties") or {})
    elif kind in ("increment", "decrement"):
        current = _number(doc["properties"].get(change["property"]))
        step = change["value"] if kind == "increment" else -change["value"]
        result = current + step
        doc["properties"][change["property"]] = repr(result) if isinstance(result, float) else str(result)
    elif kind == "assign_group":
        doc["groups"] = list(dict.fromkeys([*doc.get("groups", []), *change["group_ids"]]))
    elif kind == "group":
        doc["type"], doc["name"] = change["group_type"], change["name"]
        _merge_nonempty(doc["properties"], change.get("properties") or {})


def _target(change: dict) -> tuple[str, str]:
    if change["type"] == "group":
        return "group", change["id"]
    return "profile", change["profile_id"]


def apply_packets(packets: list[dict], first_sequence: int, now_ms: int) -> dict:
    """Apply buffered packets ({ctx, changes}); packet i has sequence number first_sequence + i."""
    changes = [
        (first_sequence + i, packet["ctx"], change) for i, packet in enumerate(packets) for change in packet["changes"]
    ]
    return apply_changes(changes, now_ms)


def apply_changes(changes: list[tuple[int, dict, dict]], now_ms: int) -> dict:
    """Apply (sequence, ctx, change) in order, one document at a time; write the new versions."""
    grouped: dict[tuple[str, str, str], list] = defaultdict(list)
    for sequence, ctx, change in changes:
        kind, doc_id = _target(change)
        grouped[(kind, ctx["project_id"], doc_id)].append((sequence, ctx, change))
    redis = keys.redis()
    cached = redis.mget([keys.document(*key) for key in grouped])
    cold: dict[tuple[str, str], list[str]] = defaultdict(list)
    for key, raw in zip(grouped, cached):
        if raw is None:
            cold[(key[0], key[1])].append(key[2])
    stored = {(kind, project): _stored(kind, project, ids) for (kind, project), ids in cold.items()}

    rows: dict[str, list[dict]] = {"profile": [], "group": []}
    known = []
    for key in sorted(grouped):
        kind, project_id, doc_id = key
        with keys.lock(keys.document_lock(*key), LOCK_MS, wait_ms=LOCK_MS) as won:
            if not won:
                raise LockTimeout(keys.document_lock(*key))
            raw = redis.get(keys.document(*key))
            doc = orjson.loads(raw) if raw else stored.get((kind, project_id), {}).get(doc_id)
            doc = doc or _new_doc(kind, project_id, doc_id, now_ms)
            fresh = [item for item in grouped[key] if item[0] > doc["sequence"]]  # not applied before
            if fresh:
                for _, ctx, change in fresh:
                    _apply(doc, ctx, change)
                doc["version"] += 1
                doc["sequence"] = fresh[-1][0]
                redis.set(keys.document(*key), orjson.dumps(doc), ex=DOC_SECONDS)
        rows[kind].append(_row(kind, doc, now_ms))
        if kind == "profile":
            known.append((project_id, doc_id))
    store.insert_rows("profiles", PROFILE_COLUMNS, rows["profile"])
    store.insert_rows("groups", GROUP_COLUMNS, rows["group"])
    mark_known(known)
    return {"profiles": len(rows["profile"]), "groups": len(rows["group"])}


def mark_known(pairs, pipe=None) -> None:
    """Remember that profiles exist, for the API's increment / decrement check."""
    if not pairs:
        return
    own = pipe is None
    pipe = pipe if pipe is not None else keys.redis().pipeline(transaction=False)
    for project_id, profile_id in pairs:
        pipe.set(keys.known_profile(project_id, profile_id), 1, ex=KNOWN_SECONDS)
    if own:
        pipe.execute()


def stored_profiles(project_id: str, profile_ids: list[str]) -> set[str]:
    """Profiles that exist in ClickHouse (the API asks when Redis does not know them)."""
    if not profile_ids:
        return set()
    rows = store.execute(
        EXISTING_SQL.format(db=store.database()), {"project_id": project_id, "ids": tuple(profile_ids)}
    )
    return {row[0] for row in rows}
