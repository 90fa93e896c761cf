"""Who is calling (contract §2), in DRF's authentication slot: `request.auth` is the caller's project,
`request.user` a Caller that says whether it proved the project's secret.

DRF authenticates before the view's handler runs, so a request whose header credentials fail is
answered 401 before its body is read. A single `/track` may carry its credentials in the body
instead (the SDKs do): the body is read for them only when the header has no client id, and only
its first 64 KiB (decompressed). A larger body, or one that is not JSON or not valid gzip, is 401
(r2): a caller without credentials costs no more than that (issue 10: a 35 KB gzip body of 10 MiB
of JSON cost 0.5 s of CPU and 130 MiB before its 401).
"""
from dataclasses import dataclass

from rest_framework import exceptions as drf
from rest_framework.authentication import BaseAuthentication

from ingest.api.wire import InvalidEncoding, PayloadTooLarge, UnsupportedEncoding
from ingest.pipeline.decode import InvalidJSON
from projects.auth import Unauthorized, authenticate, proved_secret

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
    is_authenticated = False  # not a Django user: nothing of the admin applies to it


def _body_credentials(request, view, secret: str | None) -> tuple[str | None, str | None]:
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > BODY_CREDENTIALS_BYTES + GZIP_SLACK:
        raise Unauthorized(NO_BODY_CREDENTIALS)
    view.body_limit = BODY_CREDENTIALS_BYTES  # the parser stops decompressing past it
    try:
        body = request.data
    except (InvalidJSON, InvalidEncoding, PayloadTooLarge, UnsupportedEncoding, drf.ParseError,
            drf.UnsupportedMediaType):  # fmt: skip
        raise Unauthorized(NO_BODY_CREDENTIALS) from None
    if not isinstance(body, dict):
        raise Unauthorized(NO_BODY_CREDENTIALS)
    return body.get("clientId"), secret or body.get("clientSecret")


class ProjectAuthentication(BaseAuthentication):
    """Returns (Caller, the project's ProjectContext); raises projects.auth.Unauthorized (401)."""

    def authenticate(self, request):
        meta = request.META
        client_id = meta.get("HTTP_OPENPANEL_CLIENT_ID")
        secret = meta.get("HTTP_OPENPANEL_CLIENT_SECRET")
        view = request.parser_context.get("view")
        if not client_id and getattr(view, "credentials_in_body", False):
            client_id, secret = _body_credentials(request, view, secret)
        project = authenticate(client_id, secret, meta.get("HTTP_ORIGIN"))
        return Caller(with_secret=proved_secret(project, secret)), project
