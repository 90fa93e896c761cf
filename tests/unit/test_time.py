import pytest

from ingest.enrich import time as event_time

DAY = 86_400_000
RECEIVED = 1_795_000_000_000


def test_exactly_the_window_is_accepted():
    assert event_time.event_ms(RECEIVED - 5 * DAY, RECEIVED, 5) == RECEIVED - 5 * DAY


def test_one_millisecond_past_the_window_is_refused():
    with pytest.raises(event_time.TooOld, match="older than 5 days"):
        event_time.event_ms(RECEIVED - 5 * DAY - 1, RECEIVED, 5)


def test_one_day_window_is_singular():
    with pytest.raises(event_time.TooOld, match="older than 1 day$"):
        event_time.event_ms(RECEIVED - 2 * DAY, RECEIVED, 1)


def test_clock_ahead_tolerance():
    assert event_time.event_ms(RECEIVED + 60_000, RECEIVED, 5) == RECEIVED + 60_000
    assert event_time.event_ms(RECEIVED + 60_001, RECEIVED, 5) == RECEIVED


def test_missing_timestamp_is_received_at():
    assert event_time.event_ms(None, RECEIVED, 5) == RECEIVED


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2026-11-29T08:00:00Z", 1_795_939_200_000),
        ("2026-11-29T08:00:00.123Z", 1_795_939_200_123),
        ("2026-11-29T09:00:00+01:00", 1_795_939_200_000),
        ("2026-11-29 08:00:00", 1_795_939_200_000),
        (1_795_939_200_123, 1_795_939_200_123),
        ("1795939200123", 1_795_939_200_123),
        (1_795_939_200, 1_795_939_200_000),
        (1_795_939_200.5, 1_795_939_200_500),
    ],
)
def test_parse_timestamp(value, expected):
    assert event_time.parse_timestamp(value) == expected


@pytest.mark.parametrize(
    "value", ["", "soon", True, None, float("nan"), float("inf"), 1e300, "1e400", [], {}, 10**400, -(10**400), "9" * 400]
)
def test_parse_timestamp_refuses(value):
    with pytest.raises(event_time.InvalidTimestamp):
        event_time.parse_timestamp(value)
