"""The only reader of os.environ: every setting Spool takes from the environment, with its local default.

Each value is checked here, at start-up: a wrong one stops the process with a message that names
the variable, the value and what it accepts (`MAX_BATCH_EVENTS='2k': expected a whole number from 1
to 100000`). An empty value means the default, as if the variable were not set.
"""
import os
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


class SettingError(ValueError):
    """An environment variable holds a value Spool cannot use; the message says which and why."""


def _raw(name: str) -> str:
    """The variable's value, trimmed; "" when it is unset or empty (both mean the default)."""
    return os.environ.get(name, "").strip()


def _bad(name: str, value: str, expected: str) -> SettingError:
    return SettingError(f"{name}={value!r}: expected {expected}")


def _str(name: str, default: str = "") -> str:
    return _raw(name) or default


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _raw(name)
    if not value:
        return default
    for choice in choices:
        if value.lower() == choice.lower():
            return choice
    raise _bad(name, value, "one of " + ", ".join(choices))


def _url(name: str, default: str, schemes: tuple[str, ...]) -> str:
    value = _raw(name) or default
    parts = urlsplit(value)
    if parts.scheme not in schemes or not (parts.hostname or parts.path):
        raise _bad(name, value, f"a URL starting with {' or '.join(s + '://' for s in schemes)}")
    return value


def _bool(name: str, default: bool = False) -> bool:
    value = _raw(name)
    if not value:
        return default
    if value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise _bad(name, value, "1, true, yes, on, or 0, false, no, off")


def _number(name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise _bad(name, value, f"a whole number from {low} to {high}")
    return number


def _int(name: str, default: int, low: int = 0, high: int = 2**31 - 1) -> int:
    value = _raw(name)
    return _number(name, value, low, high) if value else default


def _list(name: str, default: list[str]) -> list[str]:
    """A comma list; empty (or only commas) means the default."""
    items = [item.strip() for item in _raw(name).split(",") if item.strip()]
    return items or default


def _ints(name: str, default: list[int], low: int = 0, high: int = 2**31 - 1) -> list[int]:
    items = [item.strip() for item in _raw(name).split(",") if item.strip()]
    try:
        return [_number(name, item, low, high) for item in items] or default
    except SettingError:
        raise _bad(name, _raw(name), f"a comma list of whole numbers from {low} to {high}") from None


DEBUG = _bool("DEBUG", default=False)
DJANGO_SECRET_KEY = _str("DJANGO_SECRET_KEY")
DJANGO_ALLOWED_HOSTS = _list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
DATABASE_URL = _url(
    "DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}", ("sqlite", "postgres", "postgresql", "pgsql")
)
REDIS_URL = _url("REDIS_URL", "redis://127.0.0.1:6379/0", ("redis", "rediss", "unix"))
CLICKHOUSE_URL = _url("CLICKHOUSE_URL", "clickhouse://default:@127.0.0.1:9000/spool", ("clickhouse", "clickhouses"))
CLICKHOUSE_CLUSTER = _str("CLICKHOUSE_CLUSTER")
GEOIP_PATH = _str("GEOIP_PATH")
LOG_LEVEL = _choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
# plain: one readable line per record; json: one JSON object per line (request, project and job ids).
LOG_FORMAT = _choice("LOG_FORMAT", "plain", ("plain", "json"))
# Errors are reported to Sentry when this is set (sentry-sdk with its Django and RQ integrations).
SENTRY_DSN = _str("SENTRY_DSN")
SENTRY_ENVIRONMENT = _str("SENTRY_ENVIRONMENT", "production")
# When set, GET /metrics asks for `Authorization: Bearer <METRICS_TOKEN>`.
METRICS_TOKEN = _str("METRICS_TOKEN")

SESSION_TIMEOUT_SECONDS = _int("SESSION_TIMEOUT_SECONDS", 1800, 1, 7 * 86_400)
SESSION_WINDOW_SECONDS = _int("SESSION_WINDOW_SECONDS", 1800, 10, 86_400)
# How often the worker looks for sessions to end (an end is written within this after it is due).
SESSION_SWEEP_SECONDS = _int("SESSION_SWEEP_SECONDS", 30, 1, 3600)

# Seconds between the retries of a failed job (ClickHouse away): about 4 hours in all by default.
JOB_RETRY_INTERVALS = _ints("JOB_RETRY_INTERVALS", [5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200], 1, 86_400)

# Limits of contract §1.1.
MAX_EVENT_BODY_BYTES = _int("MAX_EVENT_BODY_BYTES", 1024 * 1024, 1024, 1024**3)
MAX_BATCH_BODY_BYTES = _int("MAX_BATCH_BODY_BYTES", 10 * 1024 * 1024, 1024, 1024**3)
MAX_BATCH_EVENTS = _int("MAX_BATCH_EVENTS", 2000, 1, 100_000)
MAX_EVENT_BYTES = _int("MAX_EVENT_BYTES", 64 * 1024, 256, 16 * 1024 * 1024)
MAX_EVENT_NAME_LENGTH = _int("MAX_EVENT_NAME_LENGTH", 80, 1, 1000)
MAX_PROPERTY_KEYS = _int("MAX_PROPERTY_KEYS", 500, 1, 100_000)

# Client IP headers, in the order they are trusted (contract §6.4).
CLIENT_IP_HEADERS = _list(
    "CLIENT_IP_HEADERS",
    [
        "openpanel-client-ip",
        "true-client-ip",
        "x-client-ip",
        "cf-connecting-ip",
        "x-forwarded-for",
        "x-real-ip",
        "fastly-client-ip",
        "x-cluster-client-ip",
        "forwarded",
    ],
)

# Rejected-row samples kept per project per hour (the counters are exact regardless).
REJECTED_SAMPLES_PER_HOUR = _int("REJECTED_SAMPLES_PER_HOUR", 100, 0, 1_000_000)
# Days a rejected-row sample is kept in the database before the periodic job deletes it.
REJECTED_SAMPLES_DAYS = _int("REJECTED_SAMPLES_DAYS", 30, 1, 3650)
# Months of events kept in ClickHouse: a daily job drops whole monthly partitions older than that.
# 0 keeps every event.
RETENTION_MONTHS = _int("RETENTION_MONTHS", 0, 0, 1200)

# Profile and group documents (contract §7 r2): property keys per document, groups per profile.
# A change beyond them is applied up to the limit; the rest is counted as rejected (`profile_limit`).
MAX_PROFILE_PROPERTIES = _int("MAX_PROFILE_PROPERTIES", 1000, 1, 1_000_000)
MAX_PROFILE_GROUPS = _int("MAX_PROFILE_GROUPS", 100, 1, 100_000)
