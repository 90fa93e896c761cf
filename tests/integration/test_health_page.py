"""Issue 11 §3: the admin's ingestion health page (superusers): queues and buffers with their oldest
item, failed jobs and their requeue, the last run of each periodic job, pending session ends,
ClickHouse reachable or not, Redis memory."""
import re

import pytest

from ingest.worker import registry, schedule
from storage.queue import queues
from tests.support.admins import project_admin
from tests.support.agents import IPHONE_UA
from tests.support.events import track
from tests.support.worker import drain

pytestmark = pytest.mark.django_db
URL = "/admin/spool/health/"


def cells(page: str, table: str) -> dict[str, list[str]]:
    body = page[page.index(f'class="{table}"') :]
    body = body[: body.index("</table>")]
    rows = re.findall(r"<tr><td>([^<]+)</td>(.*?)</tr>", body, re.S)
    return {name: re.findall(r"<td[^>]*>(.*?)</td>", rest, re.S) for name, rest in rows}


def test_queues_buffers_ends_and_stores(admin_client, client_for):
    api = client_for(user_agent=IPHONE_UA)
    api.post("/track/batch", {"events": [track("a"), track("b")]}, format="json")
    api.post("/track", track("single"), format="json")
    page = admin_client.get(URL).content.decode()
    assert cells(page, "spool-queues")["events"][0] == "2"  # the batch's job and the buffer's drain job
    assert cells(page, "spool-buffers")["events"][0] == "1"
    assert re.search(r'class="spool-clickhouse">ok<', page)
    assert re.search(r'class="spool-memory">[^<]*used', page)

    drain()
    page = admin_client.get(URL).content.decode()
    assert cells(page, "spool-queues")["events"][0] == "0" and cells(page, "spool-buffers")["events"][0] == "0"
    assert "1 live and 0 historical sessions wait for their end" in page


def test_failed_jobs_are_listed_and_requeued(admin_client, api, settings):
    # A job fails when ClickHouse is away (a poison item is set aside instead: storage/queue/poison.py).
    assert api.post("/track/batch", {"events": [track("a")]}, format="json").status_code == 202
    [job] = queues.queue(queues.EVENTS).get_jobs()
    job.retries_left = 0
    job.save()
    real, settings.CLICKHOUSE_URL = settings.CLICKHOUSE_URL, "clickhouse://default:@127.0.0.1:1/spool"
    drain()
    settings.CLICKHOUSE_URL = real
    page = admin_client.get(URL).content.decode()
    failed = page[page.index('class="spool-failed"') :]
    assert registry.PROCESS_EVENTS in failed and "NetworkError" in failed
    response = admin_client.post("/admin/spool/health/requeue/", follow=True)
    assert "Requeued 1 failed job(s)" in response.content.decode()
    assert queues.queue(queues.EVENTS).count == 1 and queues.failed_jobs() == []


def test_last_run_of_each_periodic_job(admin_client):
    page = admin_client.get(URL).content.decode()
    assert set(cells(page, "spool-periodic")) == set(registry.periodic_tasks())
    assert "never" in cells(page, "spool-periodic")["drain-buffers"][1]
    schedule.run_periodic("drain-buffers")
    row = cells(admin_client.get(URL).content.decode(), "spool-periodic")["drain-buffers"]
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row[1]) and "late" not in row[1] and row[3] == "ok"


def test_clickhouse_away_and_who_may_see_it(admin_client, settings, project):
    settings.CLICKHOUSE_URL = "clickhouse://default:@127.0.0.1:1/spool"
    page = admin_client.get(URL)
    assert page.status_code == 200 and "does not answer" in re.search(r'class="spool-clickhouse">([^<]*)<',
                                                                       page.content.decode()).group(1)  # fmt: skip
    assert project_admin().get(URL).status_code == 403
    assert project_admin("other").post("/admin/spool/health/requeue/").status_code == 403
    assert 'href="/admin/spool/health/"' in admin_client.get("/admin/").content.decode()
    assert 'href="/admin/spool/explorer/"' in admin_client.get("/admin/").content.decode()


# --- Issue 18 §4: no false alarm on a fresh install, human intervals, the last error of retrying jobs.


def test_a_fresh_install_raises_no_false_alarm(admin_client):
    from ingest.worker.spool_worker import SpoolWorker

    # Nothing ever ran and no worker ever scheduled anything: that is worth an alarm.
    assert "late" in cells(admin_client.get(URL).content.decode(), "spool-periodic")["rotate-salts"][1]
    worker = SpoolWorker([queues.queue(name) for name in queues.NAMES], connection=queues.queue(queues.EVENTS).connection)
    worker.register_birth()  # a worker that just started ...
    try:
        schedule.ensure_periodic_jobs()  # ... and scheduled the periodic runs at its first tick
        periodic = cells(admin_client.get(URL).content.decode(), "spool-periodic")
    finally:
        worker.register_death()
    assert "late" not in "".join(cell for row in periodic.values() for cell in row)
    rotate = periodic["rotate-salts"]
    assert rotate[0] == "daily at 00:00 UTC"
    assert "never" in rotate[1] and re.search(r"first run \d{4}-\d\d-\d\d 00:00 UTC", rotate[1])
    assert periodic["drain-buffers"][0] == "every 30 s"


def test_a_failing_insert_shows_its_last_error_while_it_waits_for_a_retry(admin_client, api, settings):
    assert api.post("/track/batch", {"events": [track("a")]}, format="json").status_code == 202
    real, settings.CLICKHOUSE_URL = settings.CLICKHOUSE_URL, "clickhouse://default:@127.0.0.1:1/spool"
    drain()  # the insert fails; its retry is scheduled (it has retries left)
    settings.CLICKHOUSE_URL = real
    page = admin_client.get(URL).content.decode()
    assert cells(page, "spool-queues")["events"][3] == "1"  # scheduled
    retrying = cells(page, "spool-retrying")
    [job] = [row for row in retrying.values() if registry.PROCESS_EVENTS in row[1]]
    assert "NetworkError" in job[-1] or "Connection refused" in job[-1]
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", job[3])  # its next attempt
