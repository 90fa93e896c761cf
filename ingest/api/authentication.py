"""Who is calling (contract §2), in DRF's authentication slot: `request.auth` is the caller's project.

DRF authenticates before the view's handler runs, so a request whose header credentials fail is
answered 401 before its body is read. A single `/track` may carry its credentials in the body
instead (the SDKs do): the body is read for them only when the header has no client id.
"""
from rest_framework import exceptions as drf
from rest_framework.authentication import BaseAuthentication

from ingest.api.wire import PayloadTooLarge, UnsupportedEncoding
from ingest.observe import context
from ingest.pipeline.decode import InvalidJSON
from projects.auth import authenticate


def _body_credentials(request, secret: str | None) -> tuple[str | None, str | None]:
    try:
        body = request.data
    except (InvalidJSON, drf.ParseError, PayloadTooLarge, UnsupportedEncoding, drf.UnsupportedMediaType):
        return None, secret
    if not isinstance(body, dict):
        return None, secret
    return body.get("clientId"), secret or body.get("clientSecret")


class ProjectAuthentication(BaseAuthentication):
    """Returns (None, the project's ProjectContext); raises projects.auth.Unauthorized (401)."""

    def authenticate(self, request):
        meta = request.META
        client_id = meta.get("HTTP_OPENPANEL_CLIENT_ID")
        secret = meta.get("HTTP_OPENPANEL_CLIENT_SECRET")
        view = request.parser_context.get("view")
        if not client_id and getattr(view, "credentials_in_body", False):
            client_id, secret = _body_credentials(request, secret)
        project = authenticate(client_id, secret, meta.get("HTTP_ORIGIN"))
        context.project_id.set(project.id)  # on every log record of this request from here on
        return None, project
