"""Run queued jobs the way production does, in a burst: SpoolWorker on every queue until empty."""
import django_rq

from ingest.worker import SpoolWorker


def drain() -> None:
    queues = [django_rq.get_queue(name) for name in ("events", "sessions", "default")]
    worker = SpoolWorker(queues, connection=queues[0].connection)
    worker.work(burst=True, logging_level="WARNING")
