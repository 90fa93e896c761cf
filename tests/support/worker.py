"""Run queued jobs the way production does, in a burst: SpoolWorker on every queue until empty."""
import django_rq

from ingest.worker.spool_worker import SpoolWorker
from storage.queue import queues


def drain() -> None:
    rq_queues = [django_rq.get_queue(name) for name in queues.NAMES]
    worker = SpoolWorker(rq_queues, connection=rq_queues[0].connection)
    worker.work(burst=True, logging_level="WARNING")
