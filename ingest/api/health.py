"""`GET /healthz` and `GET /readyz` (contract §1): does each outside system answer? Short timeouts,
so that a hung one fails the check quickly instead of holding a web worker."""
import logging

from django.db import connection

from storage.clickhouse import client as clickhouse
from storage.redis import client as redis

logger = logging.getLogger(__name__)
TIMEOUT_SECONDS = 2


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _redis() -> None:
    redis.client().ping()


def _clickhouse() -> None:
    clickhouse.ping(TIMEOUT_SECONDS)


CHECKS = {"database": _database, "redis": _redis, "clickhouse": _clickhouse}
# What accepting events needs: a ClickHouse outage is absorbed by Redis (contract §10), so it must
# not take web processes out of a load balancer's rotation.
READINESS = ("database", "redis")


def check_services(names: tuple[str, ...] = tuple(CHECKS)) -> dict[str, str]:
    """{name: "ok" or "error: <kind>"} for the named systems; the details go to the log only."""
    results = {}
    for name in names:
        check = CHECKS[name]
        try:
            check()
        except Exception as error:  # any failure means "does not answer"
            logger.warning("health check: %s does not answer: %s", name, error)
            results[name] = f"error: {type(error).__name__}"
        else:
            results[name] = "ok"
    return results
