"""One chunk of queued events → rows in ClickHouse (the `process_events` job).

A chunk is idempotent: ids were fixed at the API, session decisions are idempotent per chunk id,
and the events table collapses rows with equal ids.
"""
import logging

from ingest.enrich.time import TooOld, check_window
from sessions_app.settle import settle_sessions
from storage import clickhouse, messages
from storage.rows import event_row
from storage.schema.tables import EVENTS

logger = logging.getLogger(__name__)


def write_chunk(chunk: messages.Chunk, now_ms: int) -> dict:
    chunk_id = chunk["chunk_id"]
    tracks: list[tuple[messages.JobContext, messages.QueuedEvent]] = []
    too_old = 0
    for packet in chunk["packets"]:
        ctx = packet["ctx"]
        for event in packet["events"]:
            try:
                # Applied again here: a job can be old (retries, a replayed file, a stopped worker).
                check_window(event["ts"], ctx["received_ms"], ctx["backfill_days"])
            except TooOld:
                too_old += 1
                continue
            tracks.append((ctx, event))
    settled = settle_sessions(tracks, chunk_id, now_ms)
    updates = settled.updates
    rows = [
        event_row(ctx, {**event, **updates[index]} if index in updates else event)
        for index, (ctx, event) in enumerate(tracks)
    ]
    clickhouse.insert(EVENTS, rows + settled.starts)
    if too_old:
        logger.warning("chunk %s: %d events fell outside their project's backfill window", chunk_id, too_old)
    return {"events": len(rows), "session_starts": len(settled.starts), "too_old": too_old}
