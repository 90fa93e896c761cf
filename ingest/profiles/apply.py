"""The worker's side of profiles and groups (contract §7): buffered changes applied in order.

Changes arrive through the ordered `profiles` buffer (storage/buffers.py), so they are applied in
the order they were sent. Each profile (and group) has a current document in Redis, the source of
truth for merging; every change writes a new version to ClickHouse, where
ReplacingMergeTree(version) keeps the newest. A short Redis lock per document guards against a
second drainer. A document remembers the sequence number of the last packet applied to it: a
drain re-run after a crash does not apply an increment twice, it only writes the version again.
"""
from collections import defaultdict

import orjson

from ingest.profiles import merge
from ingest.profiles.known import mark_known
from storage import clickhouse, keys, messages, queries, redis
from storage.schema.tables import GROUPS, PROFILES

DOC_SECONDS = 30 * 86_400
LOCK_MS = 10_000

Sequenced = tuple[int, messages.JobContext, messages.ProfileChange]


class LockTimeout(RuntimeError):
    """Another drainer held a document longer than a lock lasts: the job fails and is retried."""


def _stored(kind: str, project_id: str, ids: list[str]) -> dict[str, dict]:
    """The newest stored version of documents that Redis no longer holds."""
    return {row["id"]: merge.document_from_row(row) for row in queries.stored_documents(kind, project_id, ids)}


def apply_packets(packets: list[dict], first_sequence: int, now_ms: int) -> dict:
    """Apply buffered packets ({ctx, changes}); packet i has sequence number first_sequence + i."""
    changes: list[Sequenced] = []
    for i, raw in enumerate(packets):
        packet = messages.read_change_packet(raw)
        changes += [(first_sequence + i, packet["ctx"], change) for change in packet["changes"]]
    return apply_changes(changes, now_ms)


def apply_changes(changes: list[Sequenced], now_ms: int) -> dict:
    """Apply (sequence, ctx, change) in order, one document at a time; write the new versions."""
    grouped: dict[tuple[str, str, str], list[Sequenced]] = defaultdict(list)
    for sequence, ctx, change in changes:
        kind, doc_id = merge.target(change)
        grouped[(kind, ctx["project_id"], doc_id)].append((sequence, ctx, change))
    client = redis.client()
    cached = client.mget([keys.document(*key) for key in grouped])
    cold: dict[tuple[str, str], list[str]] = defaultdict(list)
    for key, raw in zip(grouped, cached):
        if raw is None:
            cold[(key[0], key[1])].append(key[2])
    stored = {(kind, project): _stored(kind, project, ids) for (kind, project), ids in cold.items()}

    rows: dict[str, list[dict]] = {"profile": [], "group": []}
    known = []
    for key in sorted(grouped):
        kind, project_id, doc_id = key
        with redis.lock(keys.document_lock(*key), LOCK_MS, wait_ms=LOCK_MS) as won:
            if not won:
                raise LockTimeout(keys.document_lock(*key))
            raw = client.get(keys.document(*key))
            doc = orjson.loads(raw) if raw else stored.get((kind, project_id), {}).get(doc_id)
            doc = doc or merge.new_document(kind, project_id, doc_id, now_ms)
            fresh = [item for item in grouped[key] if item[0] > doc["sequence"]]  # not applied before
            if fresh:
                for _, ctx, change in fresh:
                    merge.apply(doc, ctx, change)
                doc["version"] += 1
                doc["sequence"] = fresh[-1][0]
                client.set(keys.document(*key), orjson.dumps(doc), ex=DOC_SECONDS)
        rows[kind].append(merge.row_of(kind, doc, now_ms))
        if kind == "profile":
            known.append((project_id, doc_id))
    clickhouse.insert(PROFILES, rows["profile"])
    clickhouse.insert(GROUPS, rows["group"])
    mark_known(known)
    return {"profiles": len(rows["profile"]), "groups": len(rows["group"])}
