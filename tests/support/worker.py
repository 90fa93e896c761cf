"""Run queued jobs the way production does, in a burst: SpoolWorker on every queue until empty."""
import signal

import django_rq

from ingest.worker.spool_worker import SpoolWorker
from storage.queue import queues


def drain() -> None:
    rq_queues = [django_rq.get_queue(name) for name in queues.NAMES]
    worker = SpoolWorker(rq_queues, connection=rq_queues[0].connection)
    # RQ installs its own SIGINT/SIGTERM handlers and keeps them: in the test process they would outlive
    # the drain, and a process forked later (a pool's child) would ignore terminate() and hang the run.
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        worker.work(burst=True, logging_level="WARNING")
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
