"""The worker side: RQ jobs (jobs.py), a chunk written to ClickHouse (write.py), the worker process
(spool_worker.py), periodic jobs (schedule.py) and the rejected-row samples (rejected_samples.py)."""
