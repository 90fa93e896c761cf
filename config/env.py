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

# Bytes of chunk data (as serialized, before compression) a worker takes into one block besides its
# own chunk: a block's memory is a bounded multiple of it (docs/performance.md). 0: no block.
WORKER_BLOCK_BYTES = _int("WORKER_BLOCK_BYTES", 16 * 1024**2, 0, 1024**3)

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

# --- Admission control and a deployment safe to expose (contract §2, §6.4, §11) ---------------------
# Quotas (contract §11): a project's event rate per minute and the burst it may send at once. The
# project's own fields override these; docs/operations.md says how to size them.
QUOTA_EVENTS_PER_MINUTE = _int("QUOTA_EVENTS_PER_MINUTE", 60_000, 1, 10**12)
QUOTA_BURST = _int("QUOTA_BURST", 20_000, 1, 10**12)
# Above this rate a project's batches wait in the `bulk` queue, behind every other project's events.
FAIR_SHARE_EVENTS_PER_MINUTE = _int("FAIR_SHARE_EVENTS_PER_MINUTE", 60_000, 1, 10**12)
# Batches of one project handled at once by all web processes together: the others' requests always
# find a free web process. Half of this machine's web processes (gunicorn's WEB_CONCURRENCY) by default.
BATCHES_IN_FLIGHT = _int("BATCHES_IN_FLIGHT", max(1, _int("WEB_CONCURRENCY", 1, 1, 1024) // 2), 1, 100_000)


def _high_water(name: str, default: str) -> tuple[int, float]:
    """(bytes, share of maxmemory): "80%" is a share, "2gb" / "512mb" / "1073741824" a size."""
    value = _str(name, default).lower().replace(" ", "") or default
    units = {"kb": 1024, "mb": 1024**2, "gb": 1024**3, "b": 1}
    try:
        if value.endswith("%"):
            share = float(value[:-1]) / 100
            if not 0 < share <= 1:
                raise ValueError
            return 0, share
        for unit, factor in units.items():
            if value.endswith(unit):
                return int(float(value[: -len(unit)]) * factor), 0.0
        return int(value), 0.0
    except ValueError:
        raise _bad(name, value, "a share of maxmemory (80%) or a size (2gb, 512mb, 1073741824)") from None


# Above this much Redis memory the API answers 503 and the workers drain (contract §11).
REDIS_HIGH_WATER_BYTES, REDIS_HIGH_WATER_SHARE = _high_water("REDIS_HIGH_WATER_MARK", "80%")



def _cidrs(name: str, default: list[str]) -> list[str]:
    """A comma list of networks (10.0.0.0/8, an address alone is its own /32)."""
    import ipaddress

    items = _list(name, default)
    try:
        return [str(ipaddress.ip_network(item, strict=False)) for item in items]
    except ValueError:
        raise _bad(name, _raw(name), "a comma list of CIDRs (10.0.0.0/8, 127.0.0.1/32)") from None


# Forwarded-IP headers count only from these proxies (CIDRs) and from callers with the client secret.
TRUSTED_PROXIES = _cidrs("TRUSTED_PROXIES", ["127.0.0.1/32", "::1/128"])
# The headers a trusted proxy sets; x-forwarded-for and forwarded are read from the right.
PROXY_IP_HEADERS = _list("PROXY_IP_HEADERS", ["x-forwarded-for"])

# TLS behind a proxy. SECURE_PROXY_SSL_HEADER names the header that says "https" (X-Forwarded-Proto).
SECURE_PROXY_SSL_HEADER = _str("SECURE_PROXY_SSL_HEADER")
CSRF_TRUSTED_ORIGINS = _list("CSRF_TRUSTED_ORIGINS", [])
SECURE_SSL_REDIRECT = _bool("SECURE_SSL_REDIRECT", default=False)
SECURE_COOKIES = _bool("SECURE_COOKIES", default=not DEBUG)
SECURE_HSTS_SECONDS = _int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, 0, 10 * 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = _bool("SECURE_HSTS_PRELOAD", default=False)

# The placeholder of docker/.env.example: refused at start-up when DEBUG is off.
EXAMPLE_SECRET = "change-me"  # noqa: S105 - the value refused, not a secret


def example_secrets() -> list[str]:
    """The variables that still hold the example placeholder (in a URL's password too)."""
    values = {"DJANGO_SECRET_KEY": DJANGO_SECRET_KEY, "DATABASE_URL": DATABASE_URL,
              "REDIS_URL": REDIS_URL, "CLICKHOUSE_URL": CLICKHOUSE_URL}  # fmt: skip
    return [name for name, value in values.items() if EXAMPLE_SECRET in value]
