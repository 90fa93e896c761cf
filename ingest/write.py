"""Worker side of ingestion: one chunk of queued events → rows in ClickHouse.

Called by the `process_events` job. A chunk is idempotent: ids were fixed at the API, session
decisions are idempotent per chunk id, and the events table collapses rows with equal ids.
"""
import logging

from ingest import store
from ingest.enrich.time import TooOld, check_window
from ingest.rows import event_row
from sessions_app.services import settle_sessions

logger = logging.getLogger(__name__)


def write_chunk(payload: dict, now_ms: int) -> dict:
    chunk_id = payload["chunk_id"]
    tracks, too_old = [], 0
    for packet in payload["packets"]:
        ctx = packet["ctx"]
        for event in packet["events"]:
            try:
                # Applied again here: a job can be old (retries, a replayed file, a stopped worker).
                check_window(event["ts"], ctx["received_ms"], ctx["backfill_days"])
            except TooOld:
                too_old += 1
                continue
            tracks.append((ctx, event))
    start_rows = settle_sessions(tracks, chunk_id, now_ms)
    rows = [event_row(ctx, event) for ctx, event in tracks]
    store.insert_events(rows + start_rows)
    if too_old:
        logger.warning("chunk %s: %d events fell outside their project's backfill window", chunk_id, too_old)
    return {"events": len(rows), "session_starts": len(start_rows), "too_old": too_old}
