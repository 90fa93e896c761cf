"""Retention (RETENTION_MONTHS): whole monthly partitions of the events table (and of event_days)
past it are dropped.

The events table is partitioned by `toYYYYMM(created_at)` (contract §8), so dropping a month is a
metadata operation on ClickHouse: instant, and no mutation rewrites any data. A month is dropped
once every day of it is older than the retention, so at least RETENTION_MONTHS months are always
there: with 12, on 2026-12-05 the oldest month kept is 2025-12 (its first days are a little older
than 12 months) and 2025-11 is dropped.

A month Spool may still write into is never dropped, whatever the retention: the caller says how
many days back events may still arrive (a project's backfill window, and a job still waiting to
run), and the months those days touch are kept too. Dropping one would delete events accepted and
stored the day before (docs/operations.md, "Retention").
"""
from datetime import date, timedelta

from django.conf import settings

from contract.tables import EVENT_DAYS, EVENTS, Table
from storage.clickhouse import client as clickhouse

# event_days is partitioned like the events (the month of the day a row is stored on): its rows go
# with the events they name.
PARTITIONED_BY_MONTH = (EVENTS, EVENT_DAYS)

PARTITIONS_SQL = (
    "SELECT DISTINCT partition FROM system.parts "
    "WHERE database = %(database)s AND table = %(table)s AND active ORDER BY partition"
)


def first_month_kept(today: date, months: int) -> int:
    """The oldest month (YYYYMM) kept when `months` months are kept: the current one and `months` before it."""
    index = today.year * 12 + today.month - 1 - months
    return (index // 12) * 100 + index % 12 + 1


def month_of(day: date) -> int:
    return day.year * 100 + day.month


def first_month_to_keep(today: date, months: int, reach_days: int) -> int:
    """The oldest month kept: the retention's, or an older one that events may still be written
    into (up to `reach_days` before today)."""
    return min(first_month_kept(today, months), month_of(today - timedelta(days=reach_days)))


def _table(table: Table = EVENTS) -> tuple[str, str]:
    """(the table that holds the parts, ON CLUSTER): on a cluster, the replicated `_local` tables."""
    if settings.CLICKHOUSE_CLUSTER:
        return f"{table.name}_local", f" ON CLUSTER {settings.CLICKHOUSE_CLUSTER}"
    return table.name, ""


def months_stored(table: Table = EVENTS) -> list[int]:
    name, _ = _table(table)
    rows = clickhouse.execute(PARTITIONS_SQL, {"database": clickhouse.database(), "table": name})
    return [int(row[0]) for row in rows if str(row[0]).isdigit()]


def drop_months_before(first_kept: int) -> list[int]:
    """Drop every monthly partition older than `first_kept` (YYYYMM); return the months of events dropped."""
    dropped = []
    for table in PARTITIONED_BY_MONTH:
        name, on_cluster = _table(table)
        for month in months_stored(table):
            if month < first_kept:
                # `month` is an integer read from system.parts, never text from a request.
                table_name = f"{clickhouse.database()}.{name}{on_cluster}"
                clickhouse.execute(f"ALTER TABLE {table_name} DROP PARTITION {int(month)}")
                if table is EVENTS:
                    dropped.append(month)
    return dropped
