"""Settings for the test suite: real Redis and ClickHouse, each run in its own Redis DB and database."""
import os
import uuid
from urllib.parse import urlsplit

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key")

from config.settings.base import *  # noqa: E402, F403
from config.settings.base import CACHES, CLICKHOUSE_URL  # noqa: E402

DEBUG = False

# A ClickHouse database of this run's own, dropped at the end (tests/conftest.py).
_parts = urlsplit(CLICKHOUSE_URL)
CLICKHOUSE_URL = _parts._replace(path=f"/spool_test_{uuid.uuid4().hex[:12]}").geturl()

# A Redis database of the suite's own (flushed before each test).
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
CACHES["default"]["LOCATION"] = TEST_REDIS_URL

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Credentials are not cached between requests in tests (a rotation is visible at once).
PROJECT_CACHE_SECONDS = 0
