"""Settings for the test suite: real Redis and ClickHouse, each run in its own Redis DB and database."""
import os
import uuid
from urllib.parse import urlsplit

# As long as production mode asks (config/env.py: 50 characters, 5 different).
os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-" + "0123456789abcdef" * 3)

from config.settings.base import *  # noqa: E402, F403
from config.settings.base import CACHES, CLICKHOUSE_URL  # noqa: E402

DEBUG = False

# A ClickHouse database of this run's own, dropped at the end (tests/conftest.py).
_parts = urlsplit(CLICKHOUSE_URL)
CLICKHOUSE_URL = _parts._replace(path=f"/spool_test_{uuid.uuid4().hex[:12]}").geturl()



def _worker_database(url: str) -> str:
    """The suite runs in parallel (pytest-xdist): worker gwN takes the pair of Redis databases 2N below
    the configured ones, so that the workers never flush each other's keys."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    parts = urlsplit(url)
    number = int(parts.path.strip("/") or 0) - 2 * worker
    if number < 0:
        raise RuntimeError(f"too many test workers for the Redis databases below {url}")
    return parts._replace(path=f"/{number}").geturl()


# Redis databases of the suite's own: one for the tests (flushed before each test), one for the
# live stacks of tests/support/live.py.
TEST_REDIS_URL = _worker_database(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13"))
TEST_LIVE_REDIS_URL = _worker_database(os.environ.get("TEST_LIVE_REDIS_URL", "redis://127.0.0.1:6379/12"))
CACHES["default"]["LOCATION"] = TEST_REDIS_URL

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Credentials are not cached between requests in tests (a rotation is visible at once).
PROJECT_CACHE_SECONDS = 0
