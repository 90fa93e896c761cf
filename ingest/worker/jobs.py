"""RQ entry points (named in storage/queue/queues.py) and the upkeep's tasks (ingest/worker/schedule.py).
Thin: each calls one function with plain JSON data."""
import time
from collections.abc import Callable

from rq import get_current_job

from ingest.profiles.apply import apply_packets
from ingest.worker import rejected_samples
from ingest.worker.write import process_chunk
from storage.queue import buffers


def process_events(payload: dict) -> dict:
    return process_chunk(payload, now_ms=int(time.time() * 1000), job=get_current_job())


def drain_events() -> int:
    return buffers.move_events_to_queue()


def drain_profile_changes() -> int:
    return buffers.PROFILE_BUFFER.drain(
        lambda items, pipe: apply_packets(items, now_ms=int(time.time() * 1000), pipe=pipe)
    )


def drain_buffers(go_on: Callable[[], bool] = lambda: True) -> dict:
    """The upkeep's safety net: drain both buffers even if no drain job is queued, and take back what
    was set aside only for being of a format this release reads (a rolling upgrade). The profile
    buffer first: draining it frees Redis, moving single events into chunk jobs does not."""
    drained = {"profiles": drain_profile_changes()}
    if go_on():
        drained["events"] = drain_events()
    if go_on():
        drained["requeued"] = buffers.requeue_readable()
    return drained


def store_rejected_samples(go_on: Callable[[], bool] = lambda: True) -> int:
    return rejected_samples.store_samples()
