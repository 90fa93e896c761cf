"""The only reader of os.environ: every setting Spool takes from the environment, with its local default.

Each value is checked here, at start-up: a wrong one stops the process with a message that names
the variable, the value and what it accepts (`MAX_BATCH_EVENTS='2k': expected a whole number from 1
to 100000`). An empty value means the default, as if the variable were not set.
"""
import os
from pathlib import Path
from urllib.parse import urlsplit

from config import SettingError  # raised for every wrong value; config/__init__.py says why it lives there

BASE_DIR = Path(__file__).resolve().parent.parent
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}




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


# The placeholder of docker/.env.example: refused at start-up when DEBUG is off (config/settings/base.py).
EXAMPLE_SECRET = "change-me"  # noqa: S105 - the value refused, not a secret


def _secret(name: str, debug: bool, min_length: int, forbidden_prefix: str = "") -> str:
    """A secret Spool reads. With DEBUG off it must be long enough not to be guessed: `min_length`
    characters or more, 5 or more of them different, without `forbidden_prefix`. The message never
    shows the value. A missing secret, and the placeholder, have messages of their own (base.py)."""
    value = _raw(name)
    if not value or debug or EXAMPLE_SECRET in value:
        return value
    if len(value) < min_length or len(set(value)) < 5 or (forbidden_prefix and value.startswith(forbidden_prefix)):
        prefix = f", not starting with {forbidden_prefix!r}" if forbidden_prefix else ""
        raise SettingError(
            f"{name} ({len(value)} characters, {len(set(value))} different): expected at least {min_length} "
            f"characters, 5 or more of them different{prefix}, when DEBUG is off"
        )
    return value


DEBUG = _bool("DEBUG", default=False)
# production (the image, compose): DJANGO_SECRET_KEY is required. local (a clone, `make run`, every
# README command in a fresh shell): without it, a key made once and kept in .local/ (config/local_secret.py).
SPOOL_MODE = _choice("SPOOL_MODE", "local", ("local", "production"))
# Django's own deployment check (security.W009) asks this much of its signing key.
DJANGO_SECRET_KEY = _secret("DJANGO_SECRET_KEY", DEBUG, 50, forbidden_prefix="django-insecure-")
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
# Who may read GET /metrics (docs/operations.md, "Metrics"): with METRICS_TOKEN set, a scraper that
# sends `Authorization: Bearer <METRICS_TOKEN>`; with METRICS_PUBLIC on, anyone who reaches it; with
# neither, nobody when DEBUG is off, and this machine's own loopback callers when it is on (`make run`).
METRICS_TOKEN = _secret("METRICS_TOKEN", DEBUG, 16)
METRICS_PUBLIC = _bool("METRICS_PUBLIC", default=False)

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
# A body's decompressed bytes cost the quota one event per this many (contract §11 r3: bombs and
# invalid bodies too). By default a full-size body costs what a full batch of events costs.
QUOTA_BYTES_PER_EVENT = _int("QUOTA_BYTES_PER_EVENT", max(1, MAX_BATCH_BODY_BYTES // MAX_BATCH_EVENTS), 1, 1024**3)
# Devices a project may start live sessions for, per minute and at once (each holds Redis state
# until its session ends): a project cannot fill Redis with live state (issue 17, deliverable 3).
NEW_DEVICES_PER_MINUTE = _int("NEW_DEVICES_PER_MINUTE", 20_000, 1, 10**12)
NEW_DEVICES_BURST = _int("NEW_DEVICES_BURST", 20_000, 1, 10**12)

# --- The web server (gunicorn.conf.py, config/web_worker.py; docs/operations.md "The web server") ----
# Worker processes, and threads in each: a request is read whole by the process's main loop before a
# thread sees it, so a slow client holds a connection, never a thread (contract §11 r3).
WEB_CONCURRENCY = _int("WEB_CONCURRENCY", 2, 1, 1024)
WEB_THREADS = _int("WEB_THREADS", 4, 1, 256)
# Connections one process holds open at once (being read, waiting, kept alive); beyond it, new
# connections wait in the kernel's listen queue.
WEB_CONNECTIONS = _int("WEB_CONNECTIONS", 256, 2, 100_000)
# Requests of one project (its client id) in one process at once: being read, waiting or handled.
# One more is answered 429 `busy` from its headers. Half the connections by default: threads are
# shared between projects in turn whatever their queues hold, so this bounds what one project's
# many clients (or slow uploads) hold of a process's connections and buffer.
PROJECT_REQUESTS_IN_FLIGHT = _int("PROJECT_REQUESTS_IN_FLIGHT", max(1, WEB_CONNECTIONS // 2), 1, 100_000)
# A request's headers must be in within this many seconds of its first byte, its body within this many
# after its headers; else 408 and the connection is closed.
REQUEST_HEADER_SECONDS = _int("REQUEST_HEADER_SECONDS", 10, 1, 3600)
REQUEST_BODY_SECONDS = _int("REQUEST_BODY_SECONDS", 30, 1, 3600)
# A file the web processes lock while they parse a body over 1 MiB (ingest/api/wire.py): set by
# gunicorn.conf.py; empty (runserver, tests in one process): no lock.
SPOOL_PARSE_LOCK = _str("SPOOL_PARSE_LOCK")
# Bytes of request bodies one process holds while it reads them; a request that would go beyond is
# answered 503 (each thread then holds at most one parsed body: docs/performance.md, B4).
WEB_BUFFER_BYTES = _int("WEB_BUFFER_BYTES", 64 * 1024 * 1024, 1024 * 1024, 64 * 1024**3)


_MIN_HIGH_WATER_BYTES = 1024**2  # an empty Redis uses about 1 MB: a smaller mark refuses everything


def _high_water(name: str, default: str) -> tuple[int, float]:
    """(bytes, share of maxmemory): "80%" is a share, "2gb" / "512mb" / "1073741824" a size.

    A share must be above 0% and at most 100%, a size at least 1 MiB: "0" or "-1gb" read as no mark
    at all, and admission then never refused anything (issue 17)."""
    value = _str(name, default).lower().replace(" ", "") or default
    units = {"kb": 1024, "mb": 1024**2, "gb": 1024**3, "b": 1}
    try:
        if value.endswith("%"):
            share = float(value[:-1]) / 100
            if not 0 < share <= 1:  # NaN fails this too
                raise ValueError
            return 0, share
        number, factor = value, 1
        for unit, unit_factor in units.items():
            if value.endswith(unit):
                number, factor = value[: -len(unit)], unit_factor
                break
        size = int(float(number) * factor) if factor > 1 else int(number)
        if size < _MIN_HIGH_WATER_BYTES:
            raise ValueError
        return size, 0.0
    except (ValueError, OverflowError):  # OverflowError: "infgb"
        expected = "a share of maxmemory above 0% up to 100% (80%) or a size of at least 1mb (2gb, 512mb, 1073741824)"
        raise _bad(name, value, expected) from None


# Above this much Redis memory the API answers 503 and the workers drain (contract §11).
REDIS_HIGH_WATER_BYTES, REDIS_HIGH_WATER_SHARE = _high_water("REDIS_HIGH_WATER_MARK", "80%")
# The part of maxmemory the API never fills: the workers' own writes (the live state of the events
# admitted below the mark, RQ's bookkeeping) use it. The mark is at most maxmemory minus this.
REDIS_WORKER_RESERVE_BYTES, REDIS_WORKER_RESERVE_SHARE = _high_water("REDIS_WORKER_RESERVE", "20%")



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

def example_secrets() -> list[str]:
    """The variables that still hold the example placeholder (in a URL's password too)."""
    values = {"DJANGO_SECRET_KEY": DJANGO_SECRET_KEY, "DATABASE_URL": DATABASE_URL,
              "REDIS_URL": REDIS_URL, "CLICKHOUSE_URL": CLICKHOUSE_URL}  # fmt: skip
    return [name for name, value in values.items() if EXAMPLE_SECRET in value]
