"""The admin pages' pure decisions as tables: the explorer's view and property filter, the range an
arrived view reads, the health page's intervals, the project chart's scale."""
from datetime import UTC, datetime, timedelta

import pytest

from ingest.explorer.filters import choose
from ingest.explorer.health import interval
from projects.activity import nice_top
from storage.clickhouse.queries import explorer

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("params", "view", "by", "wanted"),
    [
        ({}, "arrived", "received_at", None),
        ({"view": "event"}, "event", "created_at", None),
        ({"view": "nonsense"}, "arrived", "received_at", None),
        ({"property": "plan=pro"}, "arrived", "received_at", ("plan", "pro")),
        ({"property": " plan "}, "arrived", "received_at", ("plan", None)),
        ({"property": "note=a=b"}, "arrived", "received_at", ("note", "a=b")),
        ({"property": "plan="}, "arrived", "received_at", ("plan", "")),
        ({"property": "=pro"}, "arrived", "received_at", None),
        ({"property": ""}, "arrived", "received_at", None),
    ],
)
def test_view_and_property(params, view, by, wanted):
    chosen = choose(params, NOW)
    assert (chosen.view, chosen.by, chosen.property_filter) == (view, by, wanted)


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def test_the_arrived_view_bounds_event_times_by_the_backfill_window():
    query = explorer.Query("p", NOW - timedelta(days=1), NOW, by=explorer.ARRIVED, backfill_days=5)
    where, params = explorer._where(query)
    assert "received_at >= toDateTime(%(arrived_since)s)" in where
    assert params["arrived_since"] == _epoch(NOW - timedelta(days=1)) and params["arrived_until"] == _epoch(NOW)
    # Refused when older than the window at arrival: created_at is at most 5 days (and a day) before.
    assert params["since"] == _epoch(NOW - timedelta(days=7)) and params["until"] == _epoch(NOW + timedelta(days=1))


def test_the_event_time_view_reads_its_range_only():
    where, params = explorer._where(explorer.Query("p", NOW - timedelta(hours=1), NOW))
    assert not any("received_at" in clause for clause in where)
    assert (params["since"], params["until"]) == (_epoch(NOW - timedelta(hours=1)), _epoch(NOW))


@pytest.mark.parametrize(
    ("wanted", "clause"),
    [(("plan'x", None), "has(properties.key, %(property_key)s)"), (("plan'x", "pro'y"), "arrayExists((k, v) ->")],
)
def test_a_property_filter_is_a_parameter(wanted, clause):
    where, params = explorer._where(explorer.Query("p", NOW - timedelta(hours=1), NOW, property_filter=wanted))
    assert any(text.startswith(clause) for text in where)
    assert params["property_key"] == "plan'x" and params.get("property_value") == wanted[1]
    assert not any("'x" in text or "'y" in text for text in where)  # the values travel as parameters


def test_only_the_two_times_can_be_ranged_over():
    with pytest.raises(ValueError):
        explorer._where(explorer.Query("p", NOW - timedelta(hours=1), NOW, by="path"))


@pytest.mark.parametrize(
    ("seconds", "aligned", "said"),
    [
        (86_400, True, "daily at 00:00 UTC"),
        (7 * 86_400, True, "every 7 days at 00:00 UTC"),
        (3600, True, "hourly, on the hour"),
        (7200, False, "every 2 h"),
        (900, True, "every 15 min"),
        (60, False, "every minute"),
        (30, False, "every 30 s"),
        (90, False, "every 90 s"),
    ],
)
def test_intervals_read_as_people_say_them(seconds, aligned, said):
    assert interval(seconds, aligned=aligned) == said


@pytest.mark.parametrize(
    ("count", "top"), [(0, 1), (1, 1), (2, 2), (3, 5), (6, 10), (11, 20), (99, 100), (101, 200), (1234, 2000)]
)
def test_the_chart_scale_ends_on_a_round_number(count, top):
    assert nice_top(count) == top
