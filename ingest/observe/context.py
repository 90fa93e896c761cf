"""The ids every log record of a request or a job carries (request id, project id, job id).

Context variables: set by the request middleware and the authentication (ingest/api), and by the
worker around each job (ingest/worker/spool_worker.py); read by the log filter (ingest/observe/logs.py).
"""
from contextvars import ContextVar

request_id: ContextVar[str] = ContextVar("request_id", default="")
project_id: ContextVar[str] = ContextVar("project_id", default="")
job_id: ContextVar[str] = ContextVar("job_id", default="")


def clear() -> None:
    for var in (request_id, project_id, job_id):
        var.set("")
