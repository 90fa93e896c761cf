"""RQ entry points of ingestion. Thin: each calls one service with plain JSON data."""
import time

from ingest import profiles, queue, rejections
from ingest.write import write_chunk


def process_events(payload: dict) -> dict:
    return write_chunk(payload, now_ms=int(time.time() * 1000))


def drain_events() -> int:
    return queue.drain_events()


def drain_profile_changes() -> int:
    return queue.PROFILE_BUFFER.drain(
        lambda packets, first, pipe: profiles.apply_packets(packets, first, now_ms=int(time.time() * 1000))
    )


def drain_buffers() -> dict:
    """Periodic safety net: drain both buffers even if no drain job is queued."""
    return {"events": drain_events(), "profiles": drain_profile_changes()}


def store_rejected_samples() -> int:
    return rejections.store_samples()
