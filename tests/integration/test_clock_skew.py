"""Spec §5.1: a batch says when the device sent it (`sentAt`, or the `spool-sent-at` header), and
the times of a device whose clock is wrong are corrected: HTTP in, ClickHouse rows out."""
import orjson
import pytest

from tests.support import stored
from tests.support.events import at, iso, now_ms, track
from tests.support.worker import drain

pytestmark = pytest.mark.django_db
DAY = 86_400_000
DEVICE = "kiosk-7"


def true_time() -> int:
    """Yesterday 12:10 UTC: inside the window, far from midnight and from a session bucket's edge."""
    return (now_ms() // DAY - 1) * DAY + 12 * 3_600_000 + 600_000


def batch(api, events, sent_at, path="/track/batch"):
    body = {"type": "batch", "payload": events} if path == "/track" else {"events": events}
    if sent_at is not None:
        body["sentAt"] = sent_at
    return api.post(path, body, format="json")


def rows(project, name):
    return stored.events(project.id, "name = %(name)s", {"name": name})


@pytest.mark.parametrize("path", ["/track/batch", "/track"])
def test_a_clock_two_days_fast_is_stored_at_the_true_time(api, project, path):
    when, offset = true_time(), 2 * DAY
    sent_at = now_ms() + offset
    answer = batch(api, [at("fast", when + offset, DEVICE), track("untimed")], iso(sent_at), path)
    assert answer.status_code == 202, answer.json()
    body = answer.json()
    assert body["accepted"] == 2
    skew = body["clockSkewMs"]
    assert -offset <= skew < -offset + 5_000  # received_at − sentAt: the request took a few ms
    # The same device, at the true time, without any correction: the reference session.
    assert batch(api, [at("reference", when, DEVICE)], None).json() == {"accepted": 1, "rejected": []}
    drain()
    [row], [reference] = rows(project, "fast"), rows(project, "reference")
    assert when <= row["ms"] < when + 5_000  # not clamped to the arrival time
    assert row["properties"] == {"__clock_skew_ms": str(skew)}
    assert row["session_id"] == reference["session_id"]  # the session of its corrected time
    [untimed] = rows(project, "untimed")  # it had no __timestamp: received_at, nothing corrected
    assert untimed["created_at"] == untimed["received_at"] and untimed["properties"] == {}


def test_a_clock_three_days_slow_is_corrected_before_the_backfill_window(api, project):
    when, offset = now_ms() - 4 * DAY, 3 * DAY  # by the device clock, 7 days old: over the window
    body = batch(api, [at("slow", when - offset, DEVICE)], now_ms() - offset).json()  # sentAt as epoch ms
    assert body["accepted"] == 1 and offset < body["clockSkewMs"] < offset + 5_000
    drain()
    [row] = rows(project, "slow")
    assert when <= row["ms"] < when + 5_000


def test_a_retry_with_another_sent_at_keeps_the_row_id(api, project):
    when, offset = true_time(), 2 * DAY
    event = at("retried", when + offset, DEVICE)
    first = batch(api, [event], iso(now_ms() + offset)).json()
    drain()  # each copy written on its own (one worker insert may hold several chunks)
    again = batch(api, [event], iso(now_ms() + offset + 7_000)).json()  # the device's retry, 7 s later
    drain()
    assert first["accepted"] == again["accepted"] == 1
    assert again["clockSkewMs"] <= first["clockSkewMs"] - 6_000  # another sentAt, another correction
    # Both copies were written; another id would be a second row, before any merge as after it.
    assert len({row["id"] for row in stored.events(project.id, "name = 'retried'", final=False)}) == 1
    assert stored.count(project.id, "name = 'retried'") == 1


@pytest.mark.parametrize("sent_at", [lambda now: iso(now + 8_000), lambda now: now - 9_000, lambda now: None])
def test_no_correction_within_ten_seconds_or_without_sent_at(api, project, sent_at):
    when = true_time()
    body = batch(api, [at("close", when, DEVICE)], sent_at(now_ms())).json()
    assert body == {"accepted": 1, "rejected": []}  # no clockSkewMs
    drain()
    [row] = rows(project, "close")
    assert row["ms"] == when and row["properties"] == {}


def test_an_explicit_null_sent_at_means_none(api, project):
    body = api.post("/track/batch", {"sentAt": None, "events": [at("null", true_time())]}, format="json").json()
    assert body == {"accepted": 1, "rejected": []}


def test_an_ndjson_body_says_it_in_the_spool_sent_at_header(api, project):
    when, offset = true_time(), -DAY  # a clock a day slow
    lines = b"".join(orjson.dumps(at(f"line{i}", when + offset + i, DEVICE)) + b"\n" for i in range(3))
    answer = api.generic(
        "POST", "/track/batch", lines, content_type="application/x-ndjson", HTTP_SPOOL_SENT_AT=iso(now_ms() + offset)
    )
    body = answer.json()
    assert body["accepted"] == 3 and DAY <= body["clockSkewMs"] < DAY + 5_000
    drain()
    stored_rows = stored.events(project.id, "startsWith(name, 'line')")
    assert len(stored_rows) == 3
    assert all(when <= row["ms"] < when + 5_000 for row in stored_rows)
    assert {row["properties"]["__clock_skew_ms"] for row in stored_rows} == {str(body["clockSkewMs"])}


@pytest.mark.parametrize(
    "sent_at, header", [("yesterday", None), (True, None), ({"at": 1}, None), ("", None), (None, "soon")]
)
def test_a_sent_at_that_is_not_a_time_is_400_and_stores_nothing(api, project, sent_at, header):
    extra = {"HTTP_SPOOL_SENT_AT": header} if header else {}
    body = {"events": [at("refused", true_time())], **({"sentAt": sent_at} if sent_at is not None else {})}
    answer = api.post("/track/batch", body, format="json", **extra)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_sent_at"
    assert answer.json()["message"].startswith("spool-sent-at: " if header else "sentAt: ")
    drain()
    assert stored.count(project.id) == 0
