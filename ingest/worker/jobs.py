"""RQ entry points (named in storage/queues.py). Thin: each calls one function with plain JSON data."""
import time

from rq import get_current_job

from ingest.profiles.apply import apply_packets
from ingest.worker import rejected_samples
from ingest.worker.write import process_chunk
from storage import buffers


def process_events(payload: dict) -> dict:
    return process_chunk(payload, now_ms=int(time.time() * 1000), job=get_current_job())


def drain_events() -> int:
    return buffers.move_events_to_queue()


def drain_profile_changes() -> int:
    return buffers.PROFILE_BUFFER.drain(
        lambda items, pipe: apply_packets(items, now_ms=int(time.time() * 1000), pipe=pipe)
    )


def drain_buffers() -> dict:
    """Periodic safety net: drain both buffers even if no drain job is queued, and take back what
    was set aside only for being of a format this release reads (a rolling upgrade)."""
    requeued = buffers.requeue_readable()
    return {"events": drain_events(), "profiles": drain_profile_changes(), "requeued": requeued}


def store_rejected_samples() -> int:
    return rejected_samples.store_samples()
