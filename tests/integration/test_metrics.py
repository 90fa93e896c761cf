"""Contract §1 (r2): GET /metrics in Prometheus text, correct with several gunicorn workers: after real
traffic to 2 web workers and a worker, every scrape (whichever process answers) adds up all requests,
and shows rows accepted and rejected, queue and buffer depths, ClickHouse inserts and session ends."""
import re

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.agents import IPHONE_UA
from tests.support.events import track
from tests.support.live import LiveStack
from tests.support.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)


TOKEN = "scrape-me-with-a-long-token"  # metrics are closed without one (issue 17, finding 11)


def scrape(stack, **headers) -> dict:
    response = requests.get(f"{stack.url}/metrics", timeout=10, headers={"authorization": f"Bearer {TOKEN}", **headers})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: dict, name: str, **labels) -> float:
    return sum(v for (n, found), v in samples.items() if n == name and set(labels.items()) <= set(found))


@pytest.fixture
def stack(tmp_path):
    live = LiveStack(tmp_path, METRICS_TOKEN=TOKEN)
    try:
        live.start(workers=0, web_workers=2)
        assert len(live.web_worker_pids()) == 2
        yield live
    finally:
        live.stop()


def test_metrics_after_real_traffic_on_two_web_workers(stack):
    project = stack.create_project("--name", "Measured")
    headers = {"openpanel-client-id": project["client_id"], "openpanel-client-secret": project["client_secret"],
               "user-agent": IPHONE_UA}  # fmt: skip
    session = requests.Session()  # sync workers close each connection: requests spread over both workers
    for i in range(30):
        assert session.post(f"{stack.url}/track", json=track(f"e{i}"), headers=headers, timeout=10).status_code == 200
    batch = {"events": [track("b")] * 5 + [{"type": "track", "payload": {"name": ""}}]}
    assert session.post(f"{stack.url}/track/batch", json=batch, headers=headers, timeout=10).json()["accepted"] == 5
    assert session.post(f"{stack.url}/track", json=track("x"), timeout=10).status_code == 401
    for method in ("BREW", "PROPFIND", "X-SPOOL-1"):  # any token is a method gunicorn passes on
        session.request(method, f"{stack.url}/track", timeout=10)

    for _ in range(4):  # whichever worker answers the scrape, it counts both workers' requests
        samples = scrape(stack)
        assert value(samples, "spool_http_requests_total", route="track", method="POST", status="200") == 30
        assert value(samples, "spool_http_requests_total", route="track/batch", method="POST", status="202") == 1
        assert value(samples, "spool_http_requests_total", route="track", method="POST", status="401") == 1
    assert value(samples, "spool_http_request_duration_seconds_count", route="track") == 34
    methods = {dict(labels)["method"] for name, labels in samples if name == "spool_http_requests_total"}
    assert methods == {"GET", "POST", "OPTIONS", "other"}, methods  # not one series per method a client makes up
    assert total(samples, "spool_http_requests_total", route="track", method="other") == 3
    assert value(samples, "spool_events_accepted_total", project=project["project_id"]) == 35
    assert value(samples, "spool_events_rejected_total", project=project["project_id"], reason="validation", code="invalid_field") == 1
    # No worker yet: the single events wait in their buffer, the batch in the events queue.
    assert value(samples, "spool_buffer_items", buffer="events") >= 1
    assert value(samples, "spool_queue_jobs", queue="events") >= 1
    assert value(samples, "spool_queue_oldest_job_age_seconds", queue="events") >= 0
    assert value(samples, "spool_redis_up") == 1

    stack.start_worker()
    samples = eventually(lambda: (s := scrape(stack)) and
                         value(s, "spool_clickhouse_inserted_rows_total", table="events") >= 36 and s, 60,
                         what="the worker's inserts in /metrics")  # fmt: skip
    assert value(samples, "spool_clickhouse_insert_duration_seconds_count", table="events") >= 1
    assert value(samples, "spool_clickhouse_insert_duration_seconds_bucket", table="events", le="+Inf") == value(
        samples, "spool_clickhouse_insert_duration_seconds_count", table="events")
    assert value(samples, "spool_clickhouse_insert_failures_total", table="events") == 0
    assert value(samples, "spool_session_ends_pending", kind="live") == 1  # the iPhone's live session
    assert total(samples, "spool_queue_failed_jobs") == 0


def test_metrics_token(tmp_path):
    stack = LiveStack(tmp_path, METRICS_TOKEN=TOKEN)
    try:
        stack.start(workers=0, web_workers=1)
        assert requests.get(f"{stack.url}/metrics", timeout=10).status_code == 401
        assert requests.get(f"{stack.url}/metrics", headers={"authorization": "Bearer other"}, timeout=10).status_code == 401
        assert re.search(r"^spool_redis_up 1\.0$", requests.get(
            f"{stack.url}/metrics", headers={"authorization": f"Bearer {TOKEN}"}, timeout=10).text, re.M)  # fmt: skip
    finally:
        stack.stop()
