"""The ingest views are reached past the middleware that serves browsers and the admin
(ingest/api/middleware.py): their answers keep what that middleware gave them, and every other route
goes the whole way."""
import pytest
from django.conf import settings

from ingest.api import middleware
from tests.support.events import track

pytestmark = pytest.mark.django_db


def _dotted(cls) -> str:
    return f"{cls.__module__}.{cls.__name__}"


def test_every_middleware_after_the_track_routes_is_kept_or_skipped_for_a_reason():
    after = settings.MIDDLEWARE[settings.MIDDLEWARE.index("ingest.api.middleware.TrackRoutesMiddleware") + 1 :]
    kept = [_dotted(cls) for cls in middleware.INGEST_MIDDLEWARE]
    assert [name for name in after if name in kept] == kept  # in the settings' order
    assert set(after) == set(kept) | set(middleware.SKIPPED)


@pytest.mark.parametrize("path", ["/track/batch", "/api/track/batch"])
def test_a_batch_is_answered_with_the_headers_of_every_route(api, path):
    response = api.post(path, {"events": [track("e")]}, format="json")
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "rejected": []}
    assert response["Content-Length"] == str(len(response.content))
    assert response["X-Frame-Options"] == "DENY"  # XFrameOptionsMiddleware
    assert response["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware
    assert response["Access-Control-Allow-Origin"] == "*" and response["X-Request-ID"]
    assert response.wsgi_request.resolver_match.url_name == "track-batch"
    assert not hasattr(response.wsgi_request, "session")  # SessionMiddleware did not run


def test_an_ingest_route_still_checks_the_host(api, settings):
    settings.ALLOWED_HOSTS = ["spool.example.com"]
    response = api.post("/track", track("e"), format="json", HTTP_HOST="evil.example.net")
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert api.post("/track", track("e"), format="json", HTTP_HOST="spool.example.com").status_code == 200


def test_errors_of_an_ingest_view_come_from_the_error_table(client):
    response = client.post("/track/batch", b"{}", content_type="application/json")  # no credentials
    assert response.status_code == 401
    assert set(response.json()) == {"error", "message"}


def test_other_track_paths_go_the_whole_way(api):
    response = api.post("/track/nothing", {}, format="json")
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert hasattr(response.wsgi_request, "session")
