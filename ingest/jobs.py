"""RQ entry points of ingestion. Thin: each calls one service with plain JSON data."""
import time

from ingest import queue, rejections
from ingest.write import write_chunk


def process_events(payload: dict) -> dict:
    return write_chunk(payload, now_ms=int(time.time() * 1000))


def flush_buffer() -> int:
    return queue.flush_buffer()


def store_rejected_samples() -> int:
    return rejections.store_samples()
