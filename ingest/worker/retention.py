"""The periodic job `drop-old-partitions`: events older than RETENTION_MONTHS go, a month at a time."""
import logging
from datetime import UTC, datetime

from storage import retention

logger = logging.getLogger(__name__)


def drop_old_partitions() -> list[int]:
    dropped = retention.apply_retention(datetime.now(UTC).date())
    if dropped:
        logger.info("retention: dropped the events of %s", ", ".join(str(month) for month in dropped))
    return dropped
