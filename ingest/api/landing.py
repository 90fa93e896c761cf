"""`GET /` (contract §1 r3): a small page for people who open the server's address, what gunicorn
prints and what the admin's "View site" links to: what this server is, its version, where the admin,
the API docs and the health page are, and a first event to send. Never a debug 404."""
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe


@require_safe
def landing(request: HttpRequest) -> HttpResponse:
    context = {
        "version": settings.SPOOL_VERSION,
        "track_url": request.build_absolute_uri("/track"),
        "geo_off": not settings.GEOIP_PATH,
    }
    return render(request, "spool/landing.html", context)
