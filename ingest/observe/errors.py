"""Error reports to Sentry, only when SENTRY_DSN is set: unhandled errors of requests (Django) and of
jobs (RQ), with the request, project and job ids as tags. No personal data is sent."""
import logging

from ingest.observe import context

logger = logging.getLogger(__name__)


_IDS = (("request_id", context.request_id), ("project_id", context.project_id), ("job_id", context.job_id))


def _tag_ids(event, hint):
    tags = event.setdefault("tags", {})
    for name, var in _IDS:
        if var.get():
            tags[name] = var.get()
    return event


def start_reporting(dsn: str, environment: str) -> bool:
    """Turn on Sentry for this process; False (nothing done) when `dsn` is empty."""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.rq import RqIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration(), RqIntegration()],
        send_default_pii=False,  # no IPs, cookies or user names of admin users
        traces_sample_rate=0,  # errors only; tracing every event request would cost the hot path
        before_send=_tag_ids,
    )
    return True
