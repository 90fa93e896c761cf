"""Spec §5: event time, the clock-ahead rule and the backfill window."""
from datetime import datetime, timedelta, timezone

import pytest

from projects.models import Project
from tests.support import stored
from tests.support.events import iso, now_ms, track
from tests.support.worker import drain

pytestmark = pytest.mark.django_db
DAY = 86_400_000


def send(api, **properties):
    return api.post("/track/batch", {"events": [track("t", **properties)]}, format="json").json()


def test_four_days_old_is_accepted_and_keeps_its_time(api, project):
    when = now_ms() - 4 * DAY
    assert send(api, __timestamp=iso(when))["accepted"] == 1
    drain()
    [row] = stored.events(project.id, "name = 't'")
    assert row["ms"] == when


def test_six_days_old_is_rejected_naming_the_window(api, project):
    body = send(api, __timestamp=iso(now_ms() - 6 * DAY))
    assert body["accepted"] == 0
    assert body["rejected"][0]["reason"] == "validation"
    assert body["rejected"][0]["error"] == "event timestamp older than 5 days"


def test_just_inside_five_days_is_accepted(api, project):
    # The exact boundary is covered by tests/unit/test_time.py, where received_at is fixed.
    assert send(api, __timestamp=now_ms() - 5 * DAY + 2_000)["accepted"] == 1


def test_single_track_that_is_too_old_is_400(api, project):
    response = api.post("/track", track("t", __timestamp=iso(now_ms() - 6 * DAY)), format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "event timestamp older than 5 days"


def test_window_is_the_projects(api, project):
    Project.objects.filter(pk=project.pk).update(backfill_days=30)
    assert send(api, __timestamp=iso(now_ms() - 20 * DAY))["accepted"] == 1
    body = send(api, __timestamp=iso(now_ms() - 31 * DAY))
    assert body["rejected"][0]["error"] == "event timestamp older than 30 days"


def test_two_minutes_in_the_future_is_stored_at_received_at(api, project):
    before = now_ms()
    assert send(api, __timestamp=iso(before + 120_000))["accepted"] == 1
    after = now_ms()
    drain()
    [row] = stored.events(project.id, "name = 't'")
    assert before // 1000 * 1000 <= row["ms"] <= after
    assert row["created_at"] == row["received_at"]


@pytest.mark.parametrize("value", ["yesterday", "2026-13-45T00:00:00Z", "", True, {"a": 1}, [1]])
def test_garbage_timestamp_is_rejected_with_its_path(api, project, value):
    body = send(api, __timestamp=value)
    assert body["accepted"] == 0
    assert body["rejected"][0]["error"] == "properties.__timestamp: invalid timestamp"


@pytest.mark.parametrize(
    "shape",
    [
        lambda ms: iso(ms),
        lambda ms: iso(ms).replace("Z", "+00:00"),
        lambda ms: iso(ms).replace("Z", ""),  # naive is UTC
        lambda ms: ms,
        lambda ms: str(ms),
        lambda ms: ms / 1000,  # epoch seconds
    ],
)
def test_timestamp_shapes(api, project, shape):
    when = (now_ms() - 3_600_000) // 1000 * 1000
    assert send(api, __timestamp=shape(when))["accepted"] == 1
    drain()
    [row] = stored.events(project.id, "name = 't'")
    assert row["ms"] == when


def test_timestamp_is_not_stored_as_a_property(api, project):
    send(api, __timestamp=iso(now_ms() - 1000), keep="yes")
    drain()
    [row] = stored.events(project.id, "name = 't'")
    assert row["properties"] == {"keep": "yes"}


def test_offset_timestamps_are_converted_to_utc(api, project):
    # Two days ago at 10:00:00.250 UTC, sent as 12:00:00.250+02:00: relative to the clock, so that the
    # test never falls out of the backfill window as the calendar moves on.
    utc = datetime.fromtimestamp((now_ms() - 2 * DAY) / 1000, tz=timezone.utc).replace(
        hour=10, minute=0, second=0, microsecond=250_000
    )
    sent = utc.astimezone(timezone(timedelta(hours=2))).isoformat(timespec="milliseconds")
    assert sent.endswith("T12:00:00.250+02:00")
    assert send(api, __timestamp=sent)["accepted"] == 1
    drain()
    [row] = stored.events(project.id, "name = 't'")
    assert row["created_at"].isoformat().startswith(utc.strftime("%Y-%m-%dT10:00:00"))
    assert row["created_at_ms"] == 250
