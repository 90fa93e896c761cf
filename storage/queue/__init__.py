"""The queue protocol shared by the API and the worker: RQ queues and jobs by name (queues.py), the
buffers (buffers.py), what is set aside (poison.py), the backlog (backlog.py), held jobs (holding.py),
big blocks (blocks.py) and retries (retries.py). It enqueues jobs by the names it is given."""
