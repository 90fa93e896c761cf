"""Contract §1 (r3): `GET /` is a page for people: what the server is, its version, links to the
admin, the API docs and the health page, and a first curl. Issue 18 finding 3: the address gunicorn
prints, and the admin's "View site", were Django's yellow debug 404."""
import tomllib

import pytest

from tests.support.live import ROOT

pytestmark = pytest.mark.django_db


def version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


@pytest.mark.parametrize("debug", [False, True])
def test_the_landing_page_says_what_this_is_and_where_to_go(client, settings, debug):
    settings.DEBUG = debug
    page = client.get("/")
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    text = page.content.decode()
    assert "Spool" in text and f"version {version()}" in text
    for link in ('href="/admin/"', 'href="/api/docs/"', 'href="/api/redoc/"', 'href="/admin/spool/health/"'):
        assert link in text, link
    assert "curl -s http://testserver/track" in text and "openpanel-client-id" in text
    assert "manage.py createsuperuser" in text and "manage.py create_project" in text


def test_the_landing_page_says_when_geo_is_off(client, settings, geoip):
    assert "GEOIP_PATH" not in client.get("/").content.decode()
    settings.GEOIP_PATH = ""
    assert "Geo is off: <code>GEOIP_PATH</code> is not set" in client.get("/").content.decode()


def test_the_admins_view_site_goes_to_the_landing_page(admin_client):
    index = admin_client.get("/admin/").content.decode()
    assert '<a href="/">View site</a>' in index


def test_only_reading_methods(client):
    assert client.head("/").status_code == 200
    assert client.post("/").status_code == 405
