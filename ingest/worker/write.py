"""Chunks of queued events → rows in ClickHouse (the `process_events` job).

A job writes its own chunk and the chunk jobs waiting behind it on its queue as one block: one
insert of up to BLOCK_EVENTS rows and settings.WORKER_BLOCK_BYTES of chunk data (ClickHouse 18.16
writes a new part for every insert; storage/queue/blocks.py). A chunk is idempotent: ids were fixed at the
API, session decisions are idempotent per chunk id, and the events table collapses rows with equal
ids; so a block that fails is written again whole, and one whose worker died is split.

A chunk never fails for what one event holds (contract §7 r2): an event that cannot be settled or
stored is set aside (storage/queue/poison.py) and its neighbours are written; a chunk that cannot be
read at all is set aside whole. A retriable error (ClickHouse away) fails the job, which RQ retries.
"""
import logging
import time
from dataclasses import dataclass
from typing import cast

from django.conf import settings

from contract import messages, rows
from contract.tables import EVENTS
from ingest.enrich.time import TooOld, check_window
from ingest.worker.copies import BlockCopies, record
from sessions_app.settle import Settled, confirm_starts, settle_sessions
from storage.clickhouse import client as clickhouse
from storage.queue import blocks, poison

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


# A block: a job writes its own chunk and the chunk jobs waiting behind it in one insert, up to
# BLOCK_EVENTS events, and takes no further chunk once BLOCK_SECONDS went by settling (issue 13).
BLOCK_EVENTS = 20_000
BLOCK_SECONDS = 1.0


def process_chunk(payload, now_ms: int, job=None) -> dict:
    """The `process_events` job: its chunk, and with `job` (the RQ job running it) the chunk jobs
    waiting behind it, written in one insert. A failure puts the taken jobs back at the head of the
    queue, untouched; a run after its worker died gives them back to run alone (storage/queue/blocks.py)."""
    held = _take(job, payload)
    try:
        block = _Block(now_ms)
        block.add(payload)
        started, written = time.monotonic(), []
        for job_id, chunk in blocks.companion_chunks(job, held) if held else ():
            if time.monotonic() - started > BLOCK_SECONDS:
                break
            block.add(chunk)
            written.append(job_id)
        blocks.give_back_companions(job, [job_id for job_id in held if job_id not in set(written)])
        result = block.write()
    except Exception:
        if held:
            blocks.give_back_companions(job, held)
        raise
    if held:
        blocks.finish_companions(job, written)
    return result


def _take(job, payload) -> list[str]:
    """The companions this run writes: none for a run after its worker died holding a block (it gives
    them back, each to run alone, since that block may be what killed it)."""
    if job is None:
        return []
    own_bytes = len(job.data) if isinstance(job.data, bytes) else 0
    held = blocks.take_companions(job, BLOCK_EVENTS - _events_in(payload), settings.WORKER_BLOCK_BYTES - own_bytes)
    if not held.again:
        return held.ids
    logger.warning("job %s ran again holding a block of %d chunk jobs (its worker died): each runs alone",
                   job.id, len(held.ids))  # fmt: skip
    blocks.give_back_companions(job, held.ids, alone=True)
    return []


def _events_in(payload) -> int:
    try:
        return sum(len(packet["events"]) for packet in payload["packets"])
    except (KeyError, TypeError):
        return 0


def _project_of(payload) -> str:
    try:
        found = payload["packets"][0]["ctx"]["project_id"]
    except (KeyError, IndexError, TypeError):
        return ""
    return found if isinstance(found, str) else ""


@dataclass
class _Chunk:
    payload: object
    chunk_id: str
    tracks: list[tuple[messages.JobContext, messages.QueuedEvent]]
    rows: list[dict]
    settled: Settled
    too_old: int
    days: list[dict]  # event_days rows of its copies (ingest/worker/copies.py), written before its rows


class _Block:
    """Chunks settled one after the other (each its session decisions, by its own chunk id), then
    written in one insert. A chunk that cannot be read, settled or stored is set aside whole; an
    event that cannot be, alone; the others are written."""

    def __init__(self, now_ms: int):
        self.now_ms = now_ms
        self.chunks: list[_Chunk] = []
        self.aside: list[messages.SetAside] = []
        self.chunks_aside = 0
        self.copies = BlockCopies(now_ms)

    def add(self, payload) -> None:
        try:
            self.chunks.append(self._settle(messages.read_chunk(payload), payload))
        except Exception as error:
            if poison.retriable(error):
                raise
            self._set_aside(payload, error)

    def _set_aside(self, payload, error: Exception) -> None:
        logger.exception("set aside a chunk that cannot be written", exc_info=error)
        poison.put([poison.entry("chunks", payload, error, _project_of(payload))])
        self.chunks_aside += 1

    def _settle(self, chunk: messages.Chunk, payload) -> _Chunk:
        chunk_id = chunk["chunk_id"]
        tracks: list[tuple[messages.JobContext, messages.QueuedEvent]] = []
        too_old = 0
        for packet in chunk["packets"]:
            ctx = packet["ctx"]
            for event in packet["events"]:
                why = _unfit(ctx, event)  # type: ignore[arg-type]
                if why:
                    self.aside.append(_aside(ctx, event, ValueError(why)))
                    continue
                try:
                    # Applied again here: a job can be old (retries, a replayed file, a stopped worker).
                    check_window(event["ts"], ctx["received_ms"], ctx["backfill_days"])
                except TooOld:
                    too_old += 1
                    continue
                tracks.append((ctx, event))
        tracks, days = self.copies.keep(tracks)  # a copy stored on another day already: dropped here
        settled = settle_sessions(tracks, chunk_id, self.now_ms)
        updates = settled.updates
        built = [
            rows.event_row(ctx, cast(messages.QueuedEvent, {**event, **updates[index]}) if index in updates else event)
            for index, (ctx, event) in enumerate(tracks)
        ]
        return _Chunk(payload, chunk_id, tracks, built, settled, too_old, days)

    def write(self) -> dict:
        tracks = [pair for chunk in self.chunks for pair in chunk.tracks]
        built = [row for chunk in self.chunks for row in chunk.rows]
        built += [row for chunk in self.chunks for row in chunk.settled.starts]
        before = len(self.aside)
        record([row for chunk in self.chunks for row in chunk.days])  # first: a copy that comes meanwhile sees it
        try:
            stored = _insert(built, tracks, self.aside)
            kept = self.chunks
        except Exception as error:
            if poison.retriable(error):
                raise
            del self.aside[before:]  # what the failed attempt set aside is decided again, chunk by chunk
            stored, kept = self._write_one_by_one()
        for chunk in kept:
            confirm_starts(chunk.settled)
        poison.put(self.aside)
        too_old = sum(chunk.too_old for chunk in kept)
        if too_old:
            logger.warning("%d events fell outside their project's backfill window", too_old)
        if self.aside:
            logger.warning("%d events set aside", len(self.aside))
        result = {"rows": stored, "session_starts": sum(len(chunk.settled.claimed) for chunk in kept),
                  "too_old": too_old, "set_aside": len(self.aside), "chunks": len(kept)}  # fmt: skip
        if self.chunks_aside:
            result["chunks_set_aside"] = self.chunks_aside
        if self.copies.dropped:
            result["copies_stored_already"] = self.copies.dropped  # retries whose row is on another day
        return result

    def _write_one_by_one(self) -> tuple[int, list[_Chunk]]:
        """ClickHouse refused the block for what some chunk holds: each chunk alone, so that only
        the chunk it refuses is set aside."""
        stored, kept = 0, []
        for chunk in self.chunks:
            aside: list[messages.SetAside] = []
            try:
                stored += _insert(chunk.rows + chunk.settled.starts, chunk.tracks, aside)
            except Exception as error:
                if poison.retriable(error):
                    raise
                self._set_aside(chunk.payload, error)
                continue
            self.aside += aside
            kept.append(chunk)
        return stored, kept


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
