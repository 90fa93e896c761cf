"""A worker that stops between taking a chunk job off its queue and starting it, until the test says
go (tests/integration/test_deploys.py): the gap in which a deploy's SIGTERM used to lose the job,
held open deterministically instead of hit by chance.

The test names a folder in SPOOL_TEST_GAP_DIR; the worker writes `taken-<job id>` there when it holds
a job, and goes on once the file `go` exists.
"""
import os
import time
from pathlib import Path

from ingest.worker import registry
from ingest.worker.spool_worker import SpoolWorker


class GapWorker(SpoolWorker):
    def execute_job(self, job, queue):
        if job.func_name == registry.PROCESS_EVENTS:
            folder = Path(os.environ["SPOOL_TEST_GAP_DIR"])
            (folder / f"taken-{job.id}").touch()
            while not (folder / "go").exists():
                time.sleep(0.01)
        return super().execute_job(job, queue)
