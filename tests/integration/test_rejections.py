"""Spec §9: every rejected row is counted exactly; a bounded sample of them reaches the admin."""
import threading
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from django.conf import settings

from ingest.models import RejectedSample
from ingest.pipeline import accept
from ingest.pipeline.request import read_request
from ingest.worker import rejected_samples
from projects import auth
from storage.queue import buffers
from storage.redis import client as redis
from storage.redis import counters
from tests.support.events import now_ms, track

pytestmark = pytest.mark.django_db

BAD = {"type": "track", "payload": {"name": ""}}


def counts_today(project_id: str) -> dict:
    return counters.rejected_by_day(project_id, datetime.now(UTC).date(), days=1)[0][1]


def info_at(received_ms: int, **meta):
    return read_request({"HTTP_USER_AGENT": "spool-tests/1.0", "REMOTE_ADDR": "81.2.69.142", **meta}, received_ms)


def test_1000_rejected_rows_are_counted_exactly_and_sampled_at_most_100_per_hour(project):
    context = auth.load_project(str(project.client_id))
    received = now_ms()
    errors = []

    def send() -> None:
        try:
            for _ in range(5):
                items = [BAD] * 20 + [track("fine")] * 5 + [{"type": "nope", "payload": {}}] * 5
                result = accept.ingest_batch(context, items, info_at(received))
                assert result.accepted == 5 and len(result.rejected) == 25
        except Exception as error:  # surfaced below; a thread's assert would be lost otherwise
            errors.append(error)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert counts_today(project.id) == {"invalid_field": 8 * 5 * 20, "unsupported_type": 8 * 5 * 5}

    assert rejected_samples.store_samples() == settings.REJECTED_SAMPLES_PER_HOUR
    samples = RejectedSample.objects.filter(project_id=project.id)
    assert samples.count() == 100
    # More rejections in the same hour: counted, not sampled.
    accept.ingest_batch(context, [BAD] * 10, info_at(received))
    assert counts_today(project.id) == {"invalid_field": 810, "unsupported_type": 200}
    assert rejected_samples.store_samples() == 0
    # The next hour has a new allowance.
    accept.ingest_batch(context, [BAD] * 3, info_at(received + 3_600_000))
    assert rejected_samples.store_samples() == 3


def test_each_project_has_its_own_allowance(project):
    from projects.services import create_project

    other, _ = create_project("Other app")
    first = auth.load_project(str(project.client_id))
    second = auth.load_project(str(other.client_id))
    received = now_ms()
    accept.ingest_batch(first, [BAD] * 150, info_at(received))
    accept.ingest_batch(second, [BAD] * 7, info_at(received))
    rejected_samples.store_samples()
    assert RejectedSample.objects.filter(project_id=project.id).count() == 100
    assert RejectedSample.objects.filter(project_id=other.id).count() == 7


def test_a_sample_holds_what_the_operator_needs(api, project):
    too_big = track("big", blob="x" * 70_000)
    body = {"events": [track("ok"), BAD, too_big]}
    response = api.post(
        "/track/batch", body, format="json", HTTP_OPENPANEL_SDK_NAME="ios", HTTP_OPENPANEL_SDK_VERSION="2.1.0"
    )
    assert response.status_code == 202
    rejected_samples.store_samples()
    blank, big = RejectedSample.objects.filter(project_id=project.id).order_by("index")
    assert (blank.index, blank.reason, blank.error) == (1, "validation", "payload.name: this field may not be blank")
    assert (blank.code, big.code) == ("invalid_field", "too_large")
    assert orjson.loads(blank.item) == BAD and not blank.truncated
    assert (blank.sdk_name, blank.sdk_version) == ("ios", "2.1.0")
    assert abs(blank.received_at.timestamp() * 1000 - now_ms()) < 60_000
    assert big.index == 2 and "event too large" in big.error
    assert big.truncated and len(big.item.encode()) == 8 * 1024
    assert big.item.startswith('{"type":"track","payload":{"name":"big"')


def test_single_event_400_and_ndjson_bad_line_are_recorded(api, project):
    assert api.post("/track", {"type": "track", "payload": {"name": ""}}, format="json").status_code == 400
    lines = b'{"type":"track","payload":{"name":"a"}}\n{not json\n'
    response = api.generic("POST", "/track/batch", lines, content_type="application/x-ndjson")
    assert response.status_code == 202 and response.json()["accepted"] == 1
    assert counts_today(project.id) == {"invalid_field": 1, "invalid_json": 1}
    rejected_samples.store_samples()
    errors = {sample.error: sample.item for sample in RejectedSample.objects.filter(project_id=project.id)}
    assert errors["payload.name: this field may not be blank"] == '{"type":"track","payload":{"name":""}}'
    line_error = next(error for error in errors if error.startswith("line 2:"))
    assert errors[line_error] == "{not json"


def test_recording_failure_never_fails_ingestion(api, project):
    # A key of the wrong type makes the recording script fail inside Redis.
    redis.client().set(buffers.REJECTED_BUFFER.key, "not a list")
    response = api.post("/track/batch", {"events": [track("kept"), BAD]}, format="json")
    assert response.status_code == 202
    assert response.json()["accepted"] == 1 and response.json()["rejected"][0]["index"] == 1


def test_moving_samples_twice_stores_each_once_and_old_ones_expire(project):
    context = auth.load_project(str(project.client_id))
    accept.ingest_batch(context, [BAD] * 4, info_at(now_ms()))
    client = redis.client()
    pending = client.lrange(buffers.REJECTED_BUFFER.key, 0, -1)
    client.rpush(buffers.REJECTED_BUFFER.key, *pending)  # as if a mover died after inserting, before trimming
    assert rejected_samples.store_samples() == 8
    assert RejectedSample.objects.filter(project_id=project.id).count() == 4
    rejected_samples.store_samples(now=datetime.now(UTC) + timedelta(days=settings.REJECTED_SAMPLES_DAYS + 1))
    assert RejectedSample.objects.filter(project_id=project.id).count() == 0


def test_counters_are_kept_per_day(project):
    context = auth.load_project(str(project.client_id))
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    yesterday_ms = int((today - timedelta(days=1)).timestamp() * 1000)
    accept.ingest_batch(context, [BAD] * 2, info_at(yesterday_ms))
    accept.ingest_batch(context, [BAD] * 3, info_at(int(today.timestamp() * 1000)))
    days = dict(counters.rejected_by_day(project.id, today.date(), days=3))
    assert days[today.date().isoformat()] == {"invalid_field": 3}
    assert days[(today.date() - timedelta(days=1)).isoformat()] == {"invalid_field": 2}
    assert days[(today.date() - timedelta(days=2)).isoformat()] == {}


def test_a_row_that_fails_unexpectedly_is_rejected_alone_as_internal_error(api, project, settings, caplog):
    """Contract §4 r2: nothing one item holds fails its batch. A setting no code expects (a limit of
    None) makes flattening the properties of an identify raise a TypeError: that row alone is `internal`."""
    settings.MAX_PROPERTY_KEYS = None
    events = [
        {"type": "identify", "payload": {"profileId": "u1"}},
        {"type": "identify", "payload": {"profileId": "u2", "properties": {"plan": "pro"}}},
        {"type": "group", "payload": {"id": "g1", "type": "company", "name": "Acme"}},
    ]
    response = api.post("/track/batch", {"events": events}, format="json", HTTP_X_REQUEST_ID="req-42")
    assert response.status_code == 202
    assert response["X-Request-ID"] == "req-42"
    body = response.json()
    assert body["accepted"] == 2
    assert body["rejected"] == [
        {"index": 1, "reason": "internal", "code": "internal_error", "error": "unexpected server error; request id req-42"}
    ]
    logged = [record for record in caplog.records if "request req-42" in record.getMessage()]
    assert logged and logged[0].exc_info[0] is TypeError
    assert counts_today(project.id) == {"internal_error": 1}
