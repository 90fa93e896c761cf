"""The worker's side of profiles and groups (contract §7): buffered changes applied in order.

Changes arrive through the ordered `profiles` buffer (storage/queue/buffers.py), so they are applied in
the order they were sent. Each profile (and group) has a current document in Redis, the source of
truth for merging; every change writes a new version to ClickHouse, where
ReplacingMergeTree(version) keeps the newest. A short Redis lock per document guards against a
second drainer. A document remembers the sequence number of the last packet applied to it: a
drain re-run after a crash does not apply an increment twice, it only writes the version again.

One change never stops the others (contract §7 r2). A change that cannot be applied (a blank id
queued by the previous release, a value that is not a number) is set aside with its error
(storage/queue/poison.py), and the rest of its packet and of its document go on. A change beyond a
document's limits (MAX_PROFILE_PROPERTIES keys, MAX_PROFILE_GROUPS groups) is applied up to them,
and what did not fit is counted as rejected rows of code `profile_limit`, as is an increment whose
result would not be a finite number (ingest/profiles/merge.py). Both are written in one
transaction with the document, so a drain that runs again neither loses nor repeats them.
"""
from collections import defaultdict
from typing import Any

import orjson
from django.conf import settings
from redis.client import Pipeline

from contract import messages, rows
from contract.tables import GROUPS, PROFILES
from ingest.profiles import merge
from ingest.profiles.known import mark_known
from storage.clickhouse import client as clickhouse
from storage.clickhouse.queries import profiles as queries
from storage.queue import poison
from storage.redis import client as redis
from storage.redis import counters, keys

DOC_SECONDS = 30 * 86_400
LOCK_MS = 10_000
LIMIT_CODE = "profile_limit"
TABLES = {"profile": PROFILES, "group": GROUPS}

Sequenced = tuple[int, messages.JobContext, messages.ProfileChange]


class LockTimeout(poison.Retriable):
    """Another drainer held a document longer than a lock lasts: the job fails and is retried."""


def limits() -> merge.Limits:
    return merge.Limits(properties=settings.MAX_PROFILE_PROPERTIES, groups=settings.MAX_PROFILE_GROUPS)


def _stored(kind: str, project_id: str, ids: list[str]) -> dict[str, dict]:
    """The newest stored version of documents that Redis no longer holds."""
    return {row["id"]: merge.document_from_row(row) for row in queries.stored_documents(kind, project_id, ids)}


def _aside(ctx: Any, change: Any, error: BaseException) -> messages.SetAside:
    found = ctx.get("project_id") if isinstance(ctx, dict) else ""
    project_id = found if isinstance(found, str) else ""
    return poison.entry("profiles", messages.change_packet(ctx, [change]), error, project_id)


def apply_packets(items: list[tuple[int, messages.ChangePacket]], now_ms: int, pipe: Pipeline | None = None) -> dict:
    """Apply buffered packets, each with its sequence number (storage/queue/buffers.py). What is set aside
    before any document is reached is queued on `pipe` (the drain's trim), else written at once."""
    changes = [(sequence, packet["ctx"], change) for sequence, packet in items for change in packet["changes"]]
    return apply_changes(changes, now_ms, pipe)


def apply_changes(changes: list[Sequenced], now_ms: int, pipe: Pipeline | None = None) -> dict:
    """Apply (sequence, ctx, change) in order, one document at a time; write the new versions."""
    grouped: dict[tuple[str, str, str], list[Sequenced]] = defaultdict(list)
    aside = []
    for sequence, ctx, change in changes:
        try:
            kind, doc_id = merge.target(change)
            if not isinstance(ctx.get("project_id"), str):
                raise merge.Invalid("the request context names no project")
        except merge.Invalid as error:
            aside.append(_aside(ctx, change, error))
            continue
        grouped[(kind, ctx["project_id"], doc_id)].append((sequence, ctx, change))
    if pipe is None:
        poison.put(aside)
    else:
        poison.queue_put(pipe, aside)  # with the drain's trim
    if not grouped:
        return {"profiles": 0, "groups": 0, "set_aside": len(aside)}

    client = redis.client()
    cached = client.mget([keys.document(*key) for key in grouped])
    cold: dict[tuple[str, str], list[str]] = defaultdict(list)
    for key, raw in zip(grouped, cached):
        if raw is None:
            cold[(key[0], key[1])].append(key[2])
    stored = {(kind, project): _stored(kind, project, ids) for (kind, project), ids in cold.items()}

    written: dict[str, list[dict]] = {"profile": [], "group": []}
    for key in sorted(grouped):
        row = _apply_document(key, grouped[key], stored.get((key[0], key[1]), {}), now_ms)
        if row is not None:
            written[key[0]].append(row)
    clickhouse.insert(PROFILES, written["profile"])
    clickhouse.insert(GROUPS, written["group"])
    mark_known([(row["project_id"], row["id"]) for row in written["profile"]])
    return {"profiles": len(written["profile"]), "groups": len(written["group"]), "set_aside": len(aside)}


def _apply_document(key: tuple[str, str, str], items: list[Sequenced], stored: dict, now_ms: int) -> dict | None:
    """Merge one document's changes under its lock and store it; returns the row of its version."""
    kind, project_id, doc_id = key
    client = redis.client()
    with redis.lock(keys.document_lock(*key), LOCK_MS, wait_ms=LOCK_MS) as won:
        if not won:
            raise LockTimeout(keys.document_lock(*key))
        raw = client.get(keys.document(*key))
        doc = orjson.loads(raw) if raw else stored.get(doc_id)
        doc = doc or merge.new_document(kind, project_id, doc_id, now_ms)
        fresh = [item for item in items if item[0] > doc["sequence"]]  # not applied before
        if not fresh:
            return merge.row_of(kind, doc, now_ms)  # the version again (a re-run drain)
        merged, aside, refused = _merge(doc, fresh)
        row = merge.row_of(kind, merged, now_ms)
        problem = rows.problem(TABLES[kind], row)
        if problem:  # nothing of these changes can be stored; keep the document as it was
            aside = [_aside(ctx, change, merge.Invalid(problem)) for _, ctx, change in fresh]
            merged, refused = {**doc, "sequence": fresh[-1][0]}, 0
        with client.pipeline(transaction=True) as pipe:
            poison.queue_put(pipe, aside)
            if refused:
                day = counters.day_of(now_ms)
                counters.add_worker_rejected(pipe, project_id, day, "validation", LIMIT_CODE, refused)
            pipe.set(keys.document(*key), orjson.dumps(merged), ex=DOC_SECONDS)
            pipe.execute()
    return None if problem else row


def _merge(doc: dict, fresh: list[Sequenced]) -> tuple[dict, list[messages.SetAside], int]:
    """Merge each change on its own: (the new version, the changes set aside, keys beyond the limits)."""
    bounds = limits()
    aside, refused = [], 0
    for _, ctx, change in fresh:
        try:
            doc, dropped = merge.apply(doc, ctx, change, bounds)
        except Exception as error:
            if poison.retriable(error):
                raise
            aside.append(_aside(ctx, change, error))
            continue
        refused += dropped
    return {**doc, "version": doc["version"] + 1, "sequence": fresh[-1][0]}, aside, refused
