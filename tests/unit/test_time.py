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


# Contract §5.1: the clock skew of a batch, and its place before the future clamp and the window.


@pytest.mark.parametrize(
    "sent_at, skew",
    [
        (None, 0),  # the batch did not say
        (RECEIVED - 10_000, 0),  # network delay, not a wrong clock
        (RECEIVED + 10_000, 0),
        (RECEIVED - 10_001, 10_001),  # the device clock is behind
        (RECEIVED + 10_001, -10_001),  # ahead
        ("2026-11-20T08:00:00Z", RECEIVED - 1_795_939_200_000 + 9 * DAY),
        (str(RECEIVED + 2 * DAY), -2 * DAY),
    ],
)
def test_clock_skew(sent_at, skew):
    assert event_time.clock_skew(sent_at, RECEIVED) == skew


@pytest.mark.parametrize("sent_at", ["", "soon", True, [], {}, float("nan"), "9" * 400])
def test_clock_skew_refuses_what_is_not_a_time(sent_at):
    with pytest.raises(event_time.InvalidTimestamp):
        event_time.clock_skew(sent_at, RECEIVED)


def test_a_clock_two_days_fast_is_corrected_before_the_future_clamp():
    true_time = RECEIVED - 3_600_000
    assert event_time.settle(true_time + 2 * DAY, RECEIVED, 5, skew_ms=-2 * DAY) == true_time
    assert event_time.settle(true_time + 2 * DAY, RECEIVED, 5) == RECEIVED  # uncorrected: clamped


def test_a_clock_behind_is_corrected_before_the_backfill_window():
    true_time = RECEIVED - 4 * DAY
    assert event_time.settle(true_time - 3 * DAY, RECEIVED, 5, skew_ms=3 * DAY) == true_time
    with pytest.raises(event_time.TooOld):
        event_time.settle(true_time - 3 * DAY, RECEIVED, 5)  # uncorrected: 7 days old


def test_a_corrected_time_still_meets_the_clamp_and_the_window():
    assert event_time.settle(RECEIVED, RECEIVED, 5, skew_ms=60_001) == RECEIVED
    assert event_time.settle(RECEIVED, RECEIVED, 5, skew_ms=60_000) == RECEIVED + 60_000
    assert event_time.settle(RECEIVED, RECEIVED, 5, skew_ms=-5 * DAY) == RECEIVED - 5 * DAY
    with pytest.raises(event_time.TooOld):
        event_time.settle(RECEIVED, RECEIVED, 5, skew_ms=-5 * DAY - 1)


MIDNIGHT = RECEIVED // DAY * DAY + DAY  # the next UTC midnight after RECEIVED


@pytest.mark.parametrize(
    ("sent", "stored", "skew", "elsewhere"),
    [
        (RECEIVED - 3_600_000, RECEIVED - 3_600_000, 0, False),  # stored at its time as sent: every copy is
        (MIDNIGHT - 1_000, RECEIVED, 0, False),  # clamped, but within the day it was sent for
        (MIDNIGHT + 1_000, RECEIVED, 0, True),  # clamped onto the day before its time as sent
        (RECEIVED - 3_600_000, RECEIVED - 3_000_000, 600_000, True),  # corrected: another copy's skew differs
        (RECEIVED + 2 * DAY, RECEIVED, -20_000, True),  # corrected, then clamped
    ],
)  # fmt: skip
def test_which_copies_may_be_stored_on_another_day(sent, stored, skew, elsewhere):
    assert event_time.may_land_elsewhere(sent, stored, skew) is elsewhere
