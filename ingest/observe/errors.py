"""Error reports to Sentry, only when SENTRY_DSN is set: unhandled errors of requests (Django) and of
jobs (RQ), with the request, project and job ids as tags.

What an event holds is what users and projects sent, so a report carries only what finds the bug:
the exception, its stack without local variables (a frame of the API holds the project with its
salts and secret hash, a frame of the worker the events), the route, and the headers of a short
allowlist. Never the body (a single `/track` may carry `clientSecret` in it), cookies, the query
string, job arguments, or a text that looks like a client secret (docs/operations.md, "Error
reports"). `scrub` runs last on every event and every transaction, whatever an integration added.
"""
import logging
import re
from typing import Any, cast

from sentry_sdk.types import Event, Hint

from ingest.observe import context

logger = logging.getLogger(__name__)

FILTERED = "[Filtered]"
# Request headers a report keeps (lower case): nothing that authenticates, identifies a person or
# carries a client's own words. Every other header is dropped, new ones included.
KEPT_HEADERS = frozenset({
    "content-type", "content-length", "content-encoding", "accept", "host", "openpanel-sdk-name",
    "openpanel-sdk-version", "openpanel-client-id", "x-request-id",
})  # fmt: skip
# The parts of an RQ job a report keeps: the arguments and the description (their repr) hold events.
KEPT_JOB_FIELDS = frozenset({"job_id", "func", "enqueued_at", "started_at"})
# Keys whose values are dropped wherever they appear (extra, contexts, breadcrumbs' data).
_SECRET_KEY = re.compile(r"secret|salt|passw|token|auth|cookie|session|csrf|signature|api.?key|dsn", re.I)
# Client secrets (projects/secrets.py: "sec_" + 43 URL-safe characters) in any text, messages included.
_SECRET_TEXT = re.compile(r"sec_[A-Za-z0-9_-]{16,}")


_IDS = (("request_id", context.request_id), ("project_id", context.project_id), ("job_id", context.job_id))


def _tag_ids(event: dict) -> None:
    tags = event.setdefault("tags", {})
    for name, var in _IDS:
        if var.get():
            tags[name] = var.get()


def _scrub_value(value: Any) -> Any:
    """`value` with secret-looking texts replaced and secret-named keys dropped, at any depth."""
    if isinstance(value, str):
        return _SECRET_TEXT.sub(FILTERED, value)
    if isinstance(value, dict):
        return {key: FILTERED if _SECRET_KEY.search(str(key)) else _scrub_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub_value(item) for item in value]
    return value


def _scrub_request(request: dict) -> dict:
    headers = request.get("headers") or {}
    kept = {name: value for name, value in headers.items() if name.lower() in KEPT_HEADERS}
    return {
        "url": request.get("url", ""),
        "method": request.get("method", ""),
        "headers": kept,
        **({"query_string": FILTERED} if request.get("query_string") else {}),
    }


def _drop_frame_variables(event: dict) -> None:
    for exception in (event.get("exception") or {}).get("values") or []:
        for frame in (exception.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    for thread in (event.get("threads") or {}).get("values") or []:
        for frame in (thread.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)


def scrub(sent: Event, hint: Hint | None = None) -> Event:
    """The event as it may leave: tagged with the ids, stripped of what users and projects sent."""
    event = cast(dict[str, Any], sent)  # read and rewritten as the plain dict it is
    _tag_ids(event)
    if "request" in event:
        event["request"] = _scrub_request(event["request"])
    event.pop("user", None)
    job = (event.get("extra") or {}).get("rq-job")
    if isinstance(job, dict):
        event["extra"]["rq-job"] = {key: value for key, value in job.items() if key in KEPT_JOB_FIELDS}
    _drop_frame_variables(event)
    for part in ("extra", "contexts", "breadcrumbs", "logentry", "message", "exception", "spans"):
        if part in event:
            event[part] = _scrub_value(event[part])
    return sent


def start_reporting(dsn: str, environment: str, transport: Any = None) -> bool:
    """Turn on Sentry for this process; False (nothing done) when `dsn` is empty. `transport` is
    the SDK's own (a test passes one that records what would be sent)."""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.rq import RqIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration(), RqIntegration()],
        # send_default_pii stays unset, which is off (no IPs, cookies or user names of admin users):
        # sentry-sdk 2.75 warns that passing it at all is deprecated in favour of data_collection.
        max_request_body_size="never",  # a body holds users' data, and may hold `clientSecret`
        include_local_variables=False,  # frames hold the project (salts, secret hash) and the events
        traces_sample_rate=0,  # errors only; tracing every event request would cost the hot path
        before_send=scrub,
        before_send_transaction=scrub,
        **({"transport": transport} if transport is not None else {}),
    )
    return True
