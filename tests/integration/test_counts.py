"""Issue 11 §2: rows accepted per project and day, counted exactly in the transaction that queues them,
and shown on the project list and page (today, 7 days, a 30-day chart beside the rejections)."""
import re
from datetime import UTC, datetime, timedelta

import pytest

from projects.services import create_project
from storage.redis import client as redis
from storage.redis import counters
from tests.support.admins import project_admin
from tests.support.agents import GOOGLEBOT_UA
from tests.support.events import now_ms, track

pytestmark = pytest.mark.django_db




@pytest.fixture
def accepted(project):
    return lambda: counters.accepted_by_day([project.id], datetime.now(UTC).date(), days=1)[project.id][0][1]


def test_every_accepted_row_is_counted_once_and_nothing_else(api, client_for, project, accepted):
    assert accepted() == 0
    assert api.post("/track", track("one"), format="json").status_code == 200
    assert accepted() == 1
    identify = {"type": "identify", "payload": {"profileId": "user-1", "email": "ada@example.com"}}
    assert api.post("/track", identify, format="json").status_code == 200
    assert accepted() == 2

    batch = [track("a"), track("b"), {"type": "track", "payload": {"name": ""}}, identify,
             {"type": "increment", "payload": {"profileId": "user-1", "property": "visits"}},
             {"type": "increment", "payload": {"profileId": "nobody", "property": "visits"}},
             {"type": "track", "payload": {"name": "c", "properties": {"__identify": {"profileId": "u2", "email": "b@example.com"}}}}]  # fmt: skip
    answer = api.post("/track/batch", {"events": batch}, format="json").json()
    assert answer["accepted"] == 5 and [row["index"] for row in answer["rejected"]] == [2, 5]
    assert accepted() == 2 + 5  # the row's own identify is no extra row

    # Not accepted, not counted: a bad single event, an unknown profile, a duplicate, a crawler.
    assert api.post("/track", {"type": "track", "payload": {"name": ""}}, format="json").status_code == 400
    unknown = {"type": "increment", "payload": {"profileId": "nobody", "property": "x"}}
    assert api.post("/track", unknown, format="json").status_code == 404
    browser = client_for(secret=False, HTTP_ORIGIN="https://app.example.com")
    first = browser.post("/track", track("twice"), format="json")
    again = browser.post("/track", track("twice"), format="json")
    assert first.status_code == again.status_code == 200 and again.json().get("duplicate") is True
    assert client_for(user_agent=GOOGLEBOT_UA).post("/track", track("bot"), format="json").status_code == 202
    assert accepted() == 8
    assert counters.totals()[0][project.id] == 8


def test_a_batch_counts_chunk_by_chunk_what_the_queue_took(api, project, accepted, settings):
    settings.EVENTS_PER_JOB = 3
    answer = api.post("/track/batch", {"events": [track(f"e{i}") for i in range(10)]}, format="json").json()
    assert answer == {"accepted": 10, "rejected": []}
    assert accepted() == 10


def test_counts_are_per_project_and_per_day(api, project):
    other, _ = create_project("Other")
    api.post("/track/batch", {"events": [track("x")] * 3}, format="json")
    days = counters.accepted_by_day([project.id, other.id], datetime.now(UTC).date(), days=30)
    assert days[project.id][0][1] == 3 and sum(count for _, count in days[project.id]) == 3
    assert len(days[project.id]) == 30 and days[other.id][0][1] == 0


def test_project_list_and_page_show_today_7_days_and_30_day_charts(api, project):
    api.post("/track/batch", {"events": [track("x")] * 4 + [{"type": "nope"}]}, format="json")
    admin = project_admin(projects=[project])
    listing = admin.get("/admin/projects/project/").content.decode()
    row = listing[listing.index(project.id) :]
    row = row[: row.index("</tr>")]
    assert re.findall(r'<td class="field-accepted_(?:today|7_days)">([^<]*)</td>', row) == ["4", "4"]
    assert f"/admin/spool/explorer/{project.id}/" in row

    page = admin.get(f"/admin/projects/project/{project.pk}/change/").content.decode()
    assert re.search(r'class="spool-accepted-today">4<', page) and re.search(r'class="spool-accepted-7d">4<', page)
    charts = re.findall(r'<svg class="spool-chart (spool-\w+-chart)"(.*?)</svg>', page, re.S)
    assert [name for name, _ in charts] == ["spool-accepted-chart", "spool-rejected-chart"]
    for _, chart in charts:
        assert chart.count("<rect") == 30
    assert re.search(r"<title>\d{4}-\d\d-\d\d: 4</title>", charts[0][1])
    assert re.search(r'class="spool-rejected-30d">1<', page)
    assert "<td>unsupported_type</td><td class='spool-count'>1</td>" in page


def test_pages_say_so_when_redis_does_not_answer(project, settings):
    from django.core.cache import caches

    settings.CACHES = {**settings.CACHES, "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}
    caches["default"].close()
    admin = project_admin(projects=[project])
    assert admin.get("/admin/projects/project/").status_code == 200
    page = admin.get(f"/admin/projects/project/{project.pk}/change/")
    assert page.status_code == 200 and "counters unavailable: Redis does not answer" in page.content.decode()


def test_today_is_utc(project):
    with redis.client().pipeline() as pipe:
        counters.queue_accepted(pipe, project.id, now_ms(), 2)
        pipe.execute()
    assert counters.accepted_by_day([project.id], datetime.now(UTC).date(), 1)[project.id] == [
        (datetime.now(UTC).date().isoformat(), 2)
    ]


def test_the_30_day_chart_has_a_scale_and_dates(api, project):
    api.post("/track/batch", {"events": [track("x")] * 4 + [{"type": "nope"}] * 3}, format="json")
    page = project_admin(projects=[project]).get(f"/admin/projects/project/{project.pk}/change/").content.decode()
    accepted, rejected = re.findall(r'<svg class="spool-chart spool-\w+-chart"(.*?)</svg>', page, re.S)
    labels = lambda chart: re.findall(r'<text [^>]*text-anchor="end" dominant-baseline="middle">([^<]*)</text>', chart)  # noqa: E731
    assert labels(accepted) == ["0", "5"] and labels(rejected) == ["0", "5"]  # 4 and 3 rows: a top of 5, no half
    today = datetime.now(UTC).date()
    dates = re.findall(r'<text [^>]*text-anchor="(?:start|middle|end)">(\d\d-\d\d)</text>', accepted)
    assert dates == [f"{today - timedelta(days=29):%m-%d}", f"{today - timedelta(days=14):%m-%d}", f"{today:%m-%d}"]
