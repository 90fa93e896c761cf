"""One chunk of queued events → rows in ClickHouse (the `process_events` job).

A chunk is idempotent: ids were fixed at the API, session decisions are idempotent per chunk id,
and the events table collapses rows with equal ids.

A chunk never fails for what one event holds (contract §7 r2): an event that cannot be settled or
stored is set aside (storage/poison.py) and its neighbours are written; a chunk that cannot be
read at all is set aside whole. A retriable error (ClickHouse away) fails the job, which RQ retries.
"""
import logging
from typing import cast

from ingest.enrich.time import TooOld, check_window
from sessions_app.settle import confirm_starts, settle_sessions
from storage import clickhouse, messages, poison, rows
from storage.schema.tables import EVENTS

logger = logging.getLogger(__name__)

_TEXT_FIELDS = ("id", "name", "device_id", "session_id")
_OPTIONAL_TEXT = ("path", "origin", "referrer", "referrer_name", "referrer_type")


def _unfit(ctx: dict, event: dict) -> str:
    """Why settling this event's session would fail ("" when it would not): the fields the session
    code computes with. Whatever else an event holds is checked only if ClickHouse refuses its row."""
    if not isinstance(ctx.get("project_id"), str) or not isinstance(ctx.get("agent"), dict):
        return "the request context names no project or user agent"
    if type(ctx.get("received_ms")) is not int or type(ctx.get("backfill_days")) is not int:
        return "the request context has no time or backfill window"
    if type(event.get("ts")) is not int:
        return f"ts: expected whole milliseconds, not {str(event.get('ts'))[:40]!r}"
    for name in _TEXT_FIELDS:
        if not isinstance(event.get(name), str) or not event[name]:
            return f"{name}: expected text"
    for name in _OPTIONAL_TEXT:
        if not isinstance(event.get(name, ""), str):
            return f"{name}: expected text"
    if event.get("profile_id") is not None and not isinstance(event["profile_id"], str):
        return "profile_id: expected text"  # None is no profile, as an absent one
    return ""


def _aside(ctx, event, error: BaseException) -> messages.SetAside:
    # As an event packet, so that requeueing it sends it through the event buffer again.
    return poison.entry("events", messages.event_packet(ctx, [event]), error, ctx.get("project_id", ""))


def process_chunk(payload, now_ms: int) -> dict:
    """The `process_events` job: a chunk that cannot be read or written whole is set aside."""
    try:
        return write_chunk(messages.read_chunk(payload), now_ms)
    except Exception as error:
        if poison.retriable(error):
            raise
        logger.exception("set aside a chunk that cannot be written")
        poison.put([poison.entry("chunks", payload, error, _project_of(payload))])
        return {"events": 0, "set_aside": "chunk"}


def _project_of(payload) -> str:
    try:
        found = payload["packets"][0]["ctx"]["project_id"]
    except (KeyError, IndexError, TypeError):
        return ""
    return found if isinstance(found, str) else ""


def write_chunk(chunk: messages.Chunk, now_ms: int) -> dict:
    chunk_id = chunk["chunk_id"]
    tracks: list[tuple[messages.JobContext, messages.QueuedEvent]] = []
    aside: list[messages.SetAside] = []
    too_old = 0
    for packet in chunk["packets"]:
        ctx = packet["ctx"]
        for event in packet["events"]:
            why = _unfit(ctx, event)  # type: ignore[arg-type]
            if why:
                aside.append(_aside(ctx, event, ValueError(why)))
                continue
            try:
                # Applied again here: a job can be old (retries, a replayed file, a stopped worker).
                check_window(event["ts"], ctx["received_ms"], ctx["backfill_days"])
            except TooOld:
                too_old += 1
                continue
            tracks.append((ctx, event))
    settled = settle_sessions(tracks, chunk_id, now_ms)
    updates = settled.updates
    built = [
        rows.event_row(ctx, cast(messages.QueuedEvent, {**event, **updates[index]}) if index in updates else event)
        for index, (ctx, event) in enumerate(tracks)
    ]
    stored = _insert(built + settled.starts, tracks, aside)
    confirm_starts(settled)
    poison.put(aside)
    if too_old:
        logger.warning("chunk %s: %d events fell outside their project's backfill window", chunk_id, too_old)
    if aside:
        logger.warning("chunk %s: %d events set aside", chunk_id, len(aside))
    return {"rows": stored, "session_starts": len(settled.starts), "too_old": too_old, "set_aside": len(aside)}


def _insert(built: list[dict], tracks: list, aside: list) -> int:
    """Insert the rows; when ClickHouse refuses them for what they hold, set aside the events whose
    rows it would refuse (rows.problem) and insert the rest. The first `len(tracks)` rows are the
    events', in order; the others are session rows, which follow their events."""
    try:
        return clickhouse.insert(EVENTS, built)
    except Exception as error:
        if poison.retriable(error):
            raise
        logger.warning("ClickHouse refused a chunk (%s); looking for the rows it cannot store", poison.describe(error))
    kept = []
    for index, row in enumerate(built):
        problem = rows.problem(EVENTS, row)
        if not problem:
            kept.append(row)
        elif index < len(tracks):
            ctx, event = tracks[index]
            aside.append(_aside(ctx, event, ValueError(problem)))
    return clickhouse.insert(EVENTS, kept)
