"""Who is calling (contract §2), in DRF's authentication slot: `request.auth` is the caller's project.

DRF authenticates before the view's handler runs, so a request whose header credentials fail is
answered 401 before its body is read. A single `/track` may carry its credentials in the body
instead (the SDKs do): the body is read for them only when the header has no client id, or
when a header client id without a secret did not pass on its Origin (the secret may be in the body).
"""
from rest_framework import exceptions as drf
from rest_framework.authentication import BaseAuthentication

from ingest.api.wire import InvalidEncoding, PayloadTooLarge, UnsupportedEncoding
from ingest.observe import context
from ingest.pipeline.decode import InvalidJSON
from projects.auth import OriginRefused, ProjectContext, authenticate

_UNREADABLE = (
    InvalidJSON, InvalidEncoding, drf.ParseError, PayloadTooLarge, UnsupportedEncoding, drf.UnsupportedMediaType
)


def _body_credentials(request) -> tuple[str | None, str | None]:
    try:
        body = request.data
    except _UNREADABLE:
        return None, None
    if not isinstance(body, dict):
        return None, None
    return body.get("clientId"), body.get("clientSecret")


class ProjectAuthentication(BaseAuthentication):
    """Returns (None, the project's ProjectContext); raises projects.auth.Unauthorized (401)."""

    def authenticate(self, request):
        project = _project(request)
        context.project_id.set(project.id)  # on every log record of this request from here on
        return None, project


def _project(request) -> ProjectContext:
    meta = request.META
    client_id = meta.get("HTTP_OPENPANEL_CLIENT_ID")
    secret = meta.get("HTTP_OPENPANEL_CLIENT_SECRET")
    origin = meta.get("HTTP_ORIGIN")
    view = request.parser_context.get("view")
    in_body = getattr(view, "credentials_in_body", False)
    if not client_id and in_body:
        body_id, body_secret = _body_credentials(request)
        return authenticate(body_id, secret or body_secret, origin)
    try:
        return authenticate(client_id, secret, origin)
    except OriginRefused:
        # A header client id with the secret in the body (contract §2 r2). The body is read only
        # for a known client id whose headers alone did not pass.
        body_secret = _body_credentials(request)[1] if in_body and not secret else None
        if not body_secret:
            raise
        return authenticate(client_id, body_secret, origin)
