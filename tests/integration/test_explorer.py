"""Issue 11 §1: the events explorer in the admin, read from ClickHouse, as a project admin sees it:
latest events with filters, a session, a profile, live mode; duplicates never show, erased profiles
are hidden at once, other projects are out of reach, and a ClickHouse outage is a message, not a 500."""
import html
import json
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
    # The event-time view: what happened in the last 24 hours (the arrived view, the default, has "old" too).
    assert sorted(set(names(explorer(admin, project, "?view=event"))) - {"session_start"}) == ["buy", "open"]
    assert "old" in names(explorer(admin, project, "?view=event&range=7d"))
    assert "old" not in names(explorer(admin, project, "?view=event"))
    assert names(explorer(admin, project, "?view=event&range=7d&name=old")) == ["old"]
    assert sorted(names(explorer(admin, project, "?view=event&range=7d&device_id=dev-a&name=open"))) == ["open"]
    assert "old" in names(explorer(admin, project, "?view=event&range=7d&device_id=dev-a"))
    assert "old" not in names(explorer(admin, project, "?view=event&range=7d&device_id=dev-b"))
    assert names(explorer(admin, project, "?view=event&profile_id=user-1")) == ["buy"]
    day = time.strftime("%Y-%m-%d", time.gmtime(t0 / 1000))
    assert set(names(explorer(admin, project, f"?view=event&since={day}&until={day}T23:59:59"))) - {"session_start"} == {"old"}
    page = explorer(admin, project, "?view=event&range=7d&device_id=dev-a")
    session = re.search(r"/sessions/([^/]+)/\?day=", page[page.index(">open<") - 2000 :]).group(1)
    assert set(names(explorer(admin, project, f"?view=event&session_id={session}"))) - {"session_start"} == {"open"}
    assert "No events in this range with these filters" in explorer(admin, project, "?view=event&name=nothing")
    bad = explorer(admin, project, "?view=event&since=yesterday")
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


# --- The second edition (issue 18 §5): arrived view, counts, volume, property filter, detail, catalogue.


def total(page: str) -> int:
    return int(re.search(r'<strong class="spool-total">(\d+)</strong>', page).group(1))


def chart(page: str) -> dict:
    return json.loads(re.search(r'<script id="spool-volume-data" type="application/json">(.*?)</script>', page).group(1))


def test_the_arrived_view_is_the_default_and_shows_an_offline_drain_at_once(admin, client_for, project):
    api = client_for(user_agent=IPHONE_UA)
    two_days_ago = now_ms() - 2 * 86_400_000
    drained = [at("offline_tap", two_days_ago + i * MINUTE, device="dev-off") for i in range(3)]
    assert api.post("/track/batch", {"events": drained}, format="json").json()["rejected"] == []
    drain()
    page = explorer(admin, project)  # no parameter: the last 24 hours of arrivals
    assert set(names(page)) == {"offline_tap", "session_start"}
    assert 'class="current spool-view-current">Arrived' in page and "whatever their event time" in page
    assert total(page) == 4  # three taps and their session's start
    assert "offline_tap" not in names(explorer(admin, project, "?view=event"))  # they happened 2 days ago
    assert "offline_tap" in names(explorer(admin, project, "?view=event&range=7d"))
    # Each row says when it arrived beside its event time.
    row = page[page.index('data-id="') :]
    assert re.search(r'class="nowrap spool-received">\d\d-\d\d \d\d:\d\d:\d\d<', row)


def test_the_arrived_view_orders_by_arrival_and_its_range_is_on_arrival(admin, client_for, project):
    api = client_for()
    api.post("/track/batch", {"events": [at("late_but_old", now_ms() - 3 * 3_600_000)]}, format="json")
    drain()
    api.post("/track/batch", {"events": [at("recent_then", now_ms() - MINUTE)]}, format="json")
    drain()
    # Arrival order: the last received first, although its event time is later than the other's.
    shown = [name for name in names(explorer(admin, project)) if name != "session_start"]
    assert shown == ["recent_then", "late_but_old"]
    # The last hour of arrivals holds both (the 3-hour-old event just arrived); an hour of event time one.
    assert {"recent_then", "late_but_old"} <= set(names(explorer(admin, project, "?range=1h")))
    assert "late_but_old" not in names(explorer(admin, project, "?view=event&range=1h"))


def test_a_property_filter_and_the_count_of_what_matches(admin, client_for, project):
    api = client_for()
    events = [track("buy", plan="pro", note="a=b"), track("buy", plan="free"), track("buy", plan="pro"),
              track("view", other="1")]  # fmt: skip
    assert api.post("/track/batch", {"events": events}, format="json").json()["accepted"] == 4
    drain()
    # (The session's start row carries its first event's properties: counted by name here.)
    assert total(explorer(admin, project, "?name=buy&property=plan%3Dpro")) == 2
    assert total(explorer(admin, project, "?name=buy&property=plan")) == 3  # the events that carry the key
    assert total(explorer(admin, project, "?name=buy&property=note%3Da%3Db")) == 1  # the value holds "=" too
    assert names(explorer(admin, project, "?property=other%3D1")) == ["view"]
    assert total(explorer(admin, project, "?property=plan%3Dpro&name=view")) == 0
    # Parameterised: a value made to break out of the SQL string matches nothing, and is no error.
    hostile = explorer(admin, project, "?property=plan%3D%27%29%20OR%201%3D1%20--")
    assert total(hostile) == 0 and "No events in this range with these filters" in hostile
    assert total(explorer(admin, project, "?limit=50")) == 5  # four events and a session start
    assert "showing 5" in explorer(admin, project)


def test_an_hourly_volume_chart_per_event_name_with_a_vendored_library(admin, client_for, project):
    api = client_for()
    hour = 3_600_000
    events = [at("open", now_ms() - 5 * hour), at("open", now_ms() - 5 * hour + MINUTE), at("open", now_ms() - MINUTE),
              at("buy", now_ms() - 2 * hour)]  # fmt: skip
    assert api.post("/track/batch", {"events": events}, format="json").json()["rejected"] == []
    drain()
    page = explorer(admin, project, "?view=event")
    volume = chart(page)
    assert volume["step"] == 3600 and len(volume["starts"]) in (24, 25)  # every hour of the range, empty ones too
    assert all(b - a == 3600 for a, b in zip(volume["starts"], volume["starts"][1:]))
    assert sum(volume["series"]["open"]) == 3 and sum(volume["series"]["buy"]) == 1
    five_hours_ago = (now_ms() - 5 * hour) // 1000 // 3600 * 3600
    assert volume["series"]["open"][volume["starts"].index(five_hours_ago)] >= 1
    # The library is served by Spool itself: no CDN.
    assert re.search(r'<script src="/static/spool/uplot/uPlot\.iife\.min\.js"', page)
    assert "cdn" not in page.lower() and "https://" not in re.sub(r'(value|placeholder|title)="[^"]*"', "", page)
    by_day = chart(explorer(admin, project, "?view=event&range=90d"))
    assert by_day["step"] == 86_400 and sum(by_day["series"]["open"]) == 3


def test_an_event_detail_page_with_every_column_full_values_and_the_stored_row(admin, client_for, project):
    api = client_for(user_agent=IPHONE_UA, HTTP_REFERER="https://news.example.com/item?id=1")
    long_value = "x" * 300 + "-the-end"
    event = {"type": "track", "payload": {"name": "read", "profileId": "user-3",
             "properties": {"article": long_value, "__path": "https://shop.example/a/b?c=1"}}}  # fmt: skip
    assert api.post("/track/batch", {"events": [event]}, format="json").json()["accepted"] == 1
    drain()
    page = explorer(admin, project)
    assert long_value not in page  # the list cuts long values
    link = re.search(rf'href="(/admin/spool/explorer/{project.pk}/events/[0-9a-f-]+/\?day=[0-9-]+)"[^>]*>[^<]*</a></td>\s*'
                     r'<td[^>]*>[^<]*</td>\s*<td class="spool-name"><a [^>]*>read<', page).group(1)  # fmt: skip
    detail = admin.get(link).content.decode()
    from contract.tables import EVENTS

    for column in EVENTS.insert_columns:  # every column of the table, by name
        assert f"<th>{column}</th>" in detail or f"&quot;{column}&quot;" in detail, column
    assert long_value in detail  # the full value
    assert re.search(r'class="spool-column-device">mobile<', detail) and 'class="spool-column-received_at">' in detail
    raw = json.loads(html.unescape(re.search(r'<pre class="spool-raw">(.*?)</pre>', detail, re.S).group(1)))
    assert raw["name"] == "read" and raw["profile_id"] == "user-3" and long_value in raw["properties.value"]
    assert set(raw) == set(EVENTS.insert_columns)
    # Without the day hint it is still found; another project's admin does not see it.
    assert long_value in admin.get(link.split("?")[0]).content.decode()
    assert project_admin("stranger", perms=()).get(link).status_code == 404


def test_the_event_name_catalogue_with_first_and_last_seen(admin, client_for, project):
    api = client_for()
    first, last = now_ms() - 3 * 86_400_000, now_ms() - 2 * MINUTE
    events = [at("open", first), at("open", now_ms() - 86_400_000), at("open", last), at("buy", now_ms() - MINUTE)]
    assert api.post("/track/batch", {"events": events}, format="json").json()["rejected"] == []
    drain()
    page = admin.get(f"/admin/spool/explorer/{project.pk}/names/").content.decode()
    rows = {name: cells for name, *cells in re.findall(
        r'<td class="spool-name"><a [^>]*>([^<]+)</a></td><td class="spool-events-count">(\d+)</td>'
        r'<td class="nowrap">([^<]+)</td><td class="nowrap">([^<]+)</td><td class="nowrap">([^<]+)</td>', page)}  # fmt: skip
    assert set(rows) >= {"open", "buy"}
    count, first_seen, last_seen, _ = rows["open"]
    assert count == "3"
    assert first_seen == time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(first // 1000))
    assert last_seen == time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(last // 1000))
    assert rows["buy"][0] == "1"
    assert project_admin("stranger", perms=()).get(f"/admin/spool/explorer/{project.pk}/names/").status_code == 404


def test_a_session_of_server_events_says_what_they_are(admin, client_for, project):
    api = client_for(user_agent="python-requests/2.32.3")
    t0 = now_ms() - 2 * 3_600_000
    events = [at("job_done", t0, device="server-1"), at("job_done", t0 + MINUTE, device="server-1")]
    assert api.post("/track/batch", {"events": events}, format="json").json()["rejected"] == []
    drain()
    page = explorer(admin, project, "?name=job_done")
    link = re.search(rf'href="(/admin/spool/explorer/{project.pk}/sessions/[^"]+)"', page).group(1)
    session = admin.get(link.replace("&amp;", "&")).content.decode()
    assert 'class="spool-server-session">Server events' in session and "no session_start or session_end row" in session
    assert "ends after" not in session and "spool-bounce" not in session


def test_the_new_pages_hide_an_erased_profile_and_survive_clickhouse_away(admin, api, project, settings):
    api.post("/track/batch", {"events": [{"type": "track", "payload": {"name": "secret_buy", "profileId": "gone-2"}},
                                         track("kept")]}, format="json")  # fmt: skip
    drain()
    page = explorer(admin, project, "?name=secret_buy")
    detail = re.search(rf'href="(/admin/spool/explorer/{project.pk}/events/[^"]+)"', page).group(1).replace("&amp;", "&")
    assert "gone-2" in admin.get(detail).content.decode()
    catalogue = f"/admin/spool/explorer/{project.pk}/names/"
    assert ">secret_buy<" in admin.get(catalogue).content.decode()
    erase_profile(project.id, "gone-2", now_ms())
    assert "gone-2" not in admin.get(detail).content.decode()
    assert ">secret_buy<" not in admin.get(catalogue).content.decode()
    assert ">kept<" in admin.get(catalogue).content.decode()

    settings.CLICKHOUSE_URL = "clickhouse://default:@127.0.0.1:1/spool"  # nothing listens there
    for url in (detail, catalogue):
        response = admin.get(url)
        assert response.status_code == 200 and "ClickHouse does not answer" in response.content.decode(), url
