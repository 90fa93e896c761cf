"""The periodic job `drop-old-partitions`: events older than RETENTION_MONTHS go, a month at a time,
never a month that Spool may still write events into (storage/clickhouse/queries/retention.py)."""
import logging
import math
from datetime import UTC, datetime

from django.conf import settings
from django.db.models import Max

from projects.models import Project
from storage.clickhouse.queries import retention
from storage.queue import queues

logger = logging.getLogger(__name__)


def write_reach_days() -> int:
    """How many days before today events may still be written: the widest backfill window of any
    project, plus the longest a job may wait before its last run (its retries, then the failed
    registry, from which an operator may requeue it; the worker applies the window against the
    job's own received_at), plus a day because the window's edge is a time of day."""
    widest = Project.objects.aggregate(widest=Max("backfill_days"))["widest"] or 0
    waiting_seconds = sum(settings.JOB_RETRY_INTERVALS) + queues.FAILED_JOB_TTL
    return widest + math.ceil(waiting_seconds / 86_400) + 1


def drop_old_partitions() -> list[int]:
    months = settings.RETENTION_MONTHS
    if months <= 0:  # the default: keep every event
        return []
    today, reach = datetime.now(UTC).date(), write_reach_days()
    first_kept = retention.first_month_to_keep(today, months, reach)
    if first_kept < retention.first_month_kept(today, months):
        logger.info("retention: keeping %d and later, older than RETENTION_MONTHS=%d: events of the last %d "
                    "days (backfill windows, waiting jobs) may still be written there", first_kept, months, reach)
    dropped = retention.drop_months_before(first_kept)
    if dropped:
        logger.info("retention: dropped the events of %s", ", ".join(str(month) for month in dropped))
    return dropped
