"""Issue 11 §1: the events explorer in the admin, read from ClickHouse, as a project admin sees it:
latest events with filters, a session, a profile, live mode; duplicates never show, erased profiles
are hidden at once, other projects are out of reach, and a ClickHouse outage is a message, not a 500."""
import re
import time

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from ingest.profiles.erase import erase_profile
from sessions_app.ends import close_historical_sessions
from tests.support.admins import project_admin
from tests.support.agents import IPHONE_UA
from tests.support.events import at, now_ms, track
from tests.support.worker import drain

pytestmark = pytest.mark.django_db
MINUTE = 60_000


@pytest.fixture
def admin(project):
    return project_admin(projects=[project])


def names(page: str) -> list[str]:
    return re.findall(r'<td class="spool-name"><a [^>]*>([^<]*)</a>', page)


def explorer(admin, project, query: str = "") -> str:
    response = admin.get(f"/admin/spool/explorer/{project.pk}/{query}")
    assert response.status_code == 200
    return response.content.decode()


def test_the_latest_events_with_their_fields_once_each(admin, client_for, project):
    api = client_for(user_agent=IPHONE_UA, HTTP_OPENPANEL_SDK_NAME="web", HTTP_OPENPANEL_SDK_VERSION="1.0.2")
    retried = {"type": "track", "payload": {"name": "signup", "profileId": "user-7",
               "properties": {"plan": "pro", "__insertId": "signup-1", "__path": "https://shop.example/join"}}}  # fmt: skip
    for _ in range(3):  # a client that retried twice: three copies of one row
        assert api.post("/track/batch", {"events": [retried]}, format="json").status_code == 202
    api.post("/track", track("screen_view", __path="/home"), format="json")
    drain()
    page = explorer(admin, project)
    # Latest arrival first, the retried row once, and the session's start that the worker wrote.
    assert names(page) == ["screen_view", "signup", "session_start"]
    row = page[page.index('data-id="') :]
    assert "web 1.0.2" in page and "plan=pro" in page and "/join" in page and "mobile iOS" in page
    assert f"/admin/spool/explorer/{project.pk}/profiles/user-7/" in page
    session = re.search(rf"/admin/spool/explorer/{project.pk}/sessions/([^/]+)/\?day=", row)
    assert session


def test_filters_by_name_device_profile_session_and_time(admin, client_for, project):
    api = client_for()
    t0 = now_ms() - 3 * 86_400_000
    events = [at("old", t0, device="dev-a"), at("open", now_ms() - MINUTE, device="dev-a"),
              at("open", now_ms() - MINUTE, device="dev-b"),
              {"type": "track", "payload": {"name": "buy", "profileId": "user-1", "properties": {"__deviceId": "dev-b"}}}]  # fmt: skip
    assert api.post("/track/batch", {"events": events}, format="json").json()["rejected"] == []
    drain()
    assert sorted(set(names(explorer(admin, project))) - {"session_start"}) == ["buy", "open"]  # the last 24 hours
    assert "old" in names(explorer(admin, project, "?range=7d")) and "old" not in names(explorer(admin, project))
    assert names(explorer(admin, project, "?range=7d&name=old")) == ["old"]
    assert sorted(names(explorer(admin, project, "?range=7d&device_id=dev-a&name=open"))) == ["open"]
    assert "old" in names(explorer(admin, project, "?range=7d&device_id=dev-a"))
    assert "old" not in names(explorer(admin, project, "?range=7d&device_id=dev-b"))
    assert names(explorer(admin, project, "?profile_id=user-1")) == ["buy"]
    day = time.strftime("%Y-%m-%d", time.gmtime(t0 / 1000))
    assert set(names(explorer(admin, project, f"?since={day}&until={day}T23:59:59"))) - {"session_start"} == {"old"}
    page = explorer(admin, project, "?range=7d&device_id=dev-a")
    session = re.search(r"/sessions/([^/]+)/\?day=", page[page.index(">open<") - 2000 :]).group(1)
    assert set(names(explorer(admin, project, f"?session_id={session}"))) - {"session_start"} == {"open"}
    assert "No events in this range with these filters" in explorer(admin, project, "?name=nothing")
    bad = explorer(admin, project, "?since=yesterday")
    assert "time range:" in bad and "showing the last 24 hours" in bad  # a bad range is said, not a 500


def test_a_session_in_order_with_its_start_end_duration_and_bounce(admin, client_for, project):
    api = client_for(user_agent=IPHONE_UA)
    # Historical (it ends from its stored rows), and inside one 30-minute bucket whatever the time now.
    t0 = (now_ms() - 3 * 60 * MINUTE) // (30 * MINUTE) * (30 * MINUTE) + MINUTE
    events = [at("screen_view", t0, device="dev-s", __path="/a"), at("tap", t0 + MINUTE, device="dev-s"),
              at("screen_view", t0 + 4 * MINUTE, device="dev-s", __path="/b")]  # fmt: skip
    assert api.post("/track/batch", {"events": events}, format="json").json()["rejected"] == []
    drain()
    close_historical_sessions(now_ms() + 40 * MINUTE)
    page = explorer(admin, project, "?range=7d&device_id=dev-s")
    link = re.search(rf'href="(/admin/spool/explorer/{project.pk}/sessions/[^"]+)"', page).group(1)
    session = admin.get(link.replace("&amp;", "&")).content.decode()
    rows = re.findall(r'<tr class="spool-event">\s*<td class="nowrap">[^<]*</td>\s*<td>([^<]*)</td>', session)
    assert rows == ["session_start", "screen_view", "tap", "screen_view", "session_end"]
    assert re.search(r'class="spool-duration">0:04:00<', session)
    assert re.search(r'class="spool-bounce">no<', session)


def test_a_profile_with_its_document_and_latest_events(admin, api, project):
    identify = {"type": "identify", "payload": {"profileId": "user-9", "firstName": "Ada", "email": "ada@example.com",
                                                "properties": {"tier": "gold"}}}  # fmt: skip
    buy = {"type": "track", "payload": {"name": "buy", "profileId": "user-9"}}
    assert api.post("/track/batch", {"events": [identify, buy, track("other")]}, format="json").json()["accepted"] == 3
    drain()
    page = admin.get(f"/admin/spool/explorer/{project.pk}/profiles/user-9/").content.decode()
    assert "ada@example.com" in page and "Ada" in page and "tier=gold" in page
    assert set(names(page)) - {"session_start"} == {"buy"}
    unknown = admin.get(f"/admin/spool/explorer/{project.pk}/profiles/nobody/").content.decode()
    assert "No profile document" in unknown


def test_live_mode_polls_for_new_rows(admin, api, project):
    page = explorer(admin, project, "?live=1&name=ping")
    assert 'data-live="1"' in page and 'data-query="name=ping"' in page and "stop live mode" in page
    empty = admin.get(f"/admin/spool/explorer/{project.pk}/?name=ping&fragment=1").content.decode()
    assert "<html" not in empty and "No events" in empty
    api.post("/track", track("ping"), format="json")
    drain()
    fragment = admin.get(f"/admin/spool/explorer/{project.pk}/?name=ping&fragment=1").content.decode()
    assert names(fragment) == ["ping"] and "<html" not in fragment


def test_an_erased_profile_is_hidden_at_once(admin, api, project):
    api.post("/track/batch", {"events": [{"type": "track", "payload": {"name": "private", "profileId": "gone"}},
                                         track("kept")]}, format="json")  # fmt: skip
    drain()
    assert {"kept", "private"} <= set(names(explorer(admin, project)))
    erase_profile(project.id, "gone", now_ms())
    assert "private" not in names(explorer(admin, project)) and "kept" in names(explorer(admin, project))
    assert "was erased" in admin.get(f"/admin/spool/explorer/{project.pk}/profiles/gone/").content.decode()


def test_only_visible_projects_and_only_staff(client, project):
    assert client.get(f"/admin/spool/explorer/{project.pk}/").status_code == 302  # to the login page
    outsider = project_admin("outsider", perms=())
    assert outsider.get(f"/admin/spool/explorer/{project.pk}/").status_code == 404
    assert project.name not in outsider.get("/admin/spool/explorer/").content.decode()
    visitor = get_user_model().objects.create_user("visitor", password="pw-visitor-1")
    plain = Client()
    plain.force_login(visitor)
    assert plain.get(f"/admin/spool/explorer/{project.pk}/").status_code == 302
    assert project_admin().get("/admin/spool/explorer/nope/").status_code == 404


def test_clickhouse_away_is_a_message_not_a_500(admin, api, project, settings):
    settings.CLICKHOUSE_URL = "clickhouse://default:@127.0.0.1:1/spool"  # nothing listens there
    started = time.monotonic()
    for url in (f"/admin/spool/explorer/{project.pk}/", f"/admin/spool/explorer/{project.pk}/?fragment=1",
                f"/admin/spool/explorer/{project.pk}/sessions/abc/", f"/admin/spool/explorer/{project.pk}/profiles/u/"):  # fmt: skip
        response = admin.get(url)
        assert response.status_code == 200, url
        assert "ClickHouse does not answer" in response.content.decode(), url
    assert time.monotonic() - started < 20
