"""Who is calling (contract §2), in DRF's authentication slot: `request.auth` is the caller's project,
`request.user` a Caller that says whether it proved the project's secret.

DRF authenticates before the view's handler runs, so a request whose header credentials fail is
answered 401 before its body is read. A single `/track` may carry its credentials in the body
instead (the SDKs do): the body is read for them only when the header has no client id, or when a
header client id without a secret did not pass on its Origin (the secret may be in the body), and
only its first 64 KiB (decompressed). Without a header client id, a larger body, or one that is not
JSON or not valid gzip, is 401 (r2): a caller without credentials costs no more than that (issue 10:
a 35 KB gzip body of 10 MiB of JSON cost 0.5 s of CPU and 130 MiB before its 401).
"""
from dataclasses import dataclass
from typing import Any

from rest_framework import exceptions as drf
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from ingest.api.wire import InvalidEncoding, PayloadTooLarge, UnsupportedEncoding
from ingest.observe import context
from ingest.pipeline.decode import InvalidJSON
from projects.auth import OriginRefused, ProjectContext, Unauthorized, authenticate, old_secret_until, proved_secret

_UNREADABLE = (
    InvalidJSON, InvalidEncoding, drf.ParseError, PayloadTooLarge, UnsupportedEncoding, drf.UnsupportedMediaType
)
# On the answer to a request with the secret before a rotation: when that secret stops working
# (ISO-8601, UTC). Clients warn their operator (clients/python).
OLD_SECRET_HEADER = "Spool-Old-Secret-Expires"  # noqa: S105 - a header's name
BODY_CREDENTIALS_BYTES = 64 * 1024
# gzip's framing of 64 KiB that does not compress: a larger compressed body decompresses to more.
GZIP_SLACK = 1024
NO_BODY_CREDENTIALS = (
    "missing client id (header openpanel-client-id); body credentials are read only from a JSON "
    f"body of at most {BODY_CREDENTIALS_BYTES // 1024} KiB"
)


@dataclass(frozen=True, slots=True)
class Caller:
    """DRF's `request.user` on the ingestion routes."""

    with_secret: bool  # it sent the project's secret: a server, whose forwarded-IP headers count
    # It sent the secret before the last rotation, accepted until this Unix time (contract §9 r3).
    old_secret_until: float = 0.0
    is_authenticated = False  # not a Django user: nothing of the admin applies to it


def _small_body(request: Request, view: Any) -> dict:
    """The body, when it is a JSON object of at most BODY_CREDENTIALS_BYTES decompressed; else {}."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > BODY_CREDENTIALS_BYTES + GZIP_SLACK:
        return {}
    view.body_limit = BODY_CREDENTIALS_BYTES  # the parser stops decompressing past it
    try:
        body = request.data
    except _UNREADABLE:
        return {}
    return body if isinstance(body, dict) else {}


class ProjectAuthentication(BaseAuthentication):
    """Returns (Caller, the project's ProjectContext); raises projects.auth.Unauthorized (401)."""

    def authenticate(self, request: Request) -> tuple[Caller, ProjectContext]:
        project, secret = _project(request)
        context.project_id.set(project.id)  # on every log record of this request from here on
        caller = Caller(with_secret=proved_secret(project, secret), old_secret_until=old_secret_until(project, secret))
        return caller, project


def _project(request: Request) -> tuple[ProjectContext, str | None]:
    """The caller's project, and the secret it sent (header or body)."""
    meta = request.META
    client_id = meta.get("HTTP_OPENPANEL_CLIENT_ID")
    secret = meta.get("HTTP_OPENPANEL_CLIENT_SECRET")
    origin = meta.get("HTTP_ORIGIN")
    view = request.parser_context.get("view")
    in_body = getattr(view, "credentials_in_body", False)
    if not client_id and in_body:
        body = _small_body(request, view)
        if not body:
            raise Unauthorized(NO_BODY_CREDENTIALS)
        secret = secret or body.get("clientSecret")
        return authenticate(body.get("clientId"), secret, origin), secret
    try:
        return authenticate(client_id, secret, origin), secret
    except OriginRefused:
        # A header client id with the secret in the body (contract §2 r2). The body is read only
        # for a known client id whose headers alone did not pass.
        body_secret = _small_body(request, view).get("clientSecret") if in_body and not secret else None
        if not body_secret:
            raise
        return authenticate(client_id, body_secret, origin), body_secret
