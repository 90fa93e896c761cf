"""Issue 11 §7: RETENTION_MONTHS keeps that many months of events; the daily job drops whole monthly
partitions older than that, and nothing newer."""
from datetime import UTC, date, datetime

import pytest

from contract.tables import EVENT_DAYS, EVENTS
from ingest.worker import registry
from ingest.worker.retention import drop_old_partitions
from storage.clickhouse import client as clickhouse
from storage.clickhouse.queries import retention
from tests.support import stored

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "today, months, first_kept",
    [(date(2026, 12, 5), 12, 202512), (date(2026, 1, 31), 1, 202512), (date(2026, 3, 1), 2, 202601),
     (date(2026, 3, 1), 14, 202501)],
)  # fmt: skip
def test_the_first_month_kept(today, months, first_kept):
    assert retention.first_month_kept(today, months) == first_kept


@pytest.mark.parametrize(
    "today, months, reach_days, first_kept",
    [(date(2026, 12, 5), 12, 35, 202512), (date(2026, 12, 5), 1, 35, 202610), (date(2026, 12, 5), 1, 5, 202611),
     (date(2026, 3, 1), 1, 122, 202510), (date(2026, 3, 1), 3, 0, 202512)],
)  # fmt: skip
def test_the_first_month_kept_reaches_as_far_back_as_events_may_still_be_written(today, months, reach_days, first_kept):
    assert retention.first_month_to_keep(today, months, reach_days) == first_kept


def _row(project_id: str, moment: datetime, name: str) -> dict:
    row = EVENTS.blank_row()
    row.update(id=f"00000000-0000-4000-8000-{int(moment.timestamp()):012d}", project_id=project_id, name=name,
               device_id="d", profile_id="d", created_at=int(moment.timestamp()), received_at=int(moment.timestamp()))  # fmt: skip
    return row


def test_the_daily_job_drops_months_past_the_retention_only(project, settings):
    now = datetime.now(UTC)
    ancient = datetime(2001, 3, 15, tzinfo=UTC)  # months no other test writes
    older = datetime(2001, 1, 2, tzinfo=UTC)
    clickhouse.insert(EVENTS, [_row(project.id, older, "older"), _row(project.id, ancient, "ancient"),
                               _row(project.id, now, "recent")])  # fmt: skip
    assert {200101, 200103} <= set(retention.months_stored())

    settings.RETENTION_MONTHS = 0  # the default: keep everything
    assert drop_old_partitions() == []
    settings.RETENTION_MONTHS = 12
    dropped = drop_old_partitions()
    assert {200101, 200103} <= set(dropped)
    assert all(month < retention.first_month_kept(now.date(), 12) for month in dropped)
    assert [row["name"] for row in stored.events(project.id)] == ["recent"]
    assert "drop-old-partitions" in registry.periodic_tasks()
    assert registry.periodic_tasks()["drop-old-partitions"].every == registry.DAY


def test_retention_never_drops_a_month_that_a_backfill_window_still_writes_into(api, project, settings):
    """Issue 17, finding 12: RETENTION_MONTHS=1 with a 90-day backfill window dropped, at the next
    midnight, the month of an event accepted and stored the day before."""
    from datetime import timedelta

    from tests.support.events import at, now_ms
    from tests.support.worker import drain

    project.backfill_days = 90
    project.save()
    accepted_ms = now_ms() - 80 * 86_400_000  # always at least two months back: 1 month of retention drops it
    body = {"events": [at("late-upload", accepted_ms, device="offline-1")]}
    assert api.post("/track/batch", body, format="json").json()["accepted"] == 1
    drain()
    assert stored.count(project.id, "name = 'late-upload'") == 1
    long_ago = datetime.now(UTC) - timedelta(days=400)  # beyond every window and every wait
    clickhouse.insert(EVENTS, [_row(project.id, long_ago, "long-ago")])

    settings.RETENTION_MONTHS = 1
    dropped = drop_old_partitions()
    assert stored.count(project.id, "name = 'late-upload'") == 1  # its month may still receive events
    assert long_ago.year * 100 + long_ago.month in dropped and stored.count(project.id, "name = 'long-ago'") == 0
    accepted_month = int(datetime.fromtimestamp(accepted_ms / 1000, UTC).strftime("%Y%m"))
    assert all(month < accepted_month for month in dropped)


def test_the_days_of_copies_go_with_their_events(project, settings):
    """event_days (ingest/worker/copies.py) is partitioned like the events: its old months go too."""
    old, recent = date(2001, 5, 3), datetime.now(UTC).date()
    clickhouse.insert(EVENT_DAYS, [
        {"project_id": project.id, "id": f"00000000-0000-4000-8000-00000000000{i}", "natural_day": day, "stored_day": day}
        for i, day in enumerate([old, recent])
    ])  # fmt: skip
    settings.RETENTION_MONTHS = 12
    drop_old_partitions()
    left = clickhouse.execute(f"SELECT stored_day FROM {clickhouse.database()}.event_days WHERE project_id = %(p)s",
                              {"p": project.id})  # fmt: skip
    assert left == [(recent,)]
    assert 200105 not in retention.months_stored(EVENT_DAYS)
