"""ReDoc served with no request leaving the page (contract §1: assets served locally, no CDN).
drf-spectacular's page loads Google Fonts, and the ReDoc bundle shows Redocly's logo from
cdn.redoc.ly: this page names no font (the system's are used), and its Content-Security-Policy lets
the browser load only this server's scripts, styles and images, so the logo is never fetched."""
from drf_spectacular.views import SpectacularRedocView
from rest_framework.request import Request
from rest_framework.response import Response

# ReDoc runs its inline start-up script, styles its components inline, and searches in a blob worker.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' blob:; worker-src 'self' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'"
)


class LocalRedocView(SpectacularRedocView):
    template_name = "spool/redoc.html"

    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        response = super().get(request, *args, **kwargs)
        response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response
