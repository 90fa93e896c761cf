"""The only reader of os.environ: every setting Spool takes from the environment, with its local default."""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def _ints(name: str, default: list[int]) -> list[int]:
    return [int(item) for item in _list(name, [str(number) for number in default])]


DEBUG = _bool("DEBUG", default=False)
DJANGO_SECRET_KEY = _str("DJANGO_SECRET_KEY")
DJANGO_ALLOWED_HOSTS = _list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
DATABASE_URL = _str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
REDIS_URL = _str("REDIS_URL", "redis://127.0.0.1:6379/0")
CLICKHOUSE_URL = _str("CLICKHOUSE_URL", "clickhouse://default:@127.0.0.1:9000/spool")
CLICKHOUSE_CLUSTER = _str("CLICKHOUSE_CLUSTER")
GEOIP_PATH = _str("GEOIP_PATH")
LOG_LEVEL = _str("LOG_LEVEL", "INFO")

SESSION_TIMEOUT_SECONDS = _int("SESSION_TIMEOUT_SECONDS", 1800)
SESSION_WINDOW_SECONDS = _int("SESSION_WINDOW_SECONDS", 1800)
# How often the worker looks for sessions to end (an end is written within this after it is due).
SESSION_SWEEP_SECONDS = _int("SESSION_SWEEP_SECONDS", 30)

# Seconds between the retries of a failed job (ClickHouse away): about 4 hours in all by default.
JOB_RETRY_INTERVALS = _ints("JOB_RETRY_INTERVALS", [5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200])

# Limits of contract §1.1.
MAX_EVENT_BODY_BYTES = _int("MAX_EVENT_BODY_BYTES", 1024 * 1024)
MAX_BATCH_BODY_BYTES = _int("MAX_BATCH_BODY_BYTES", 10 * 1024 * 1024)
MAX_BATCH_EVENTS = _int("MAX_BATCH_EVENTS", 2000)
MAX_EVENT_BYTES = _int("MAX_EVENT_BYTES", 64 * 1024)
MAX_EVENT_NAME_LENGTH = _int("MAX_EVENT_NAME_LENGTH", 80)
MAX_PROPERTY_KEYS = _int("MAX_PROPERTY_KEYS", 500)

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
REJECTED_SAMPLES_PER_HOUR = _int("REJECTED_SAMPLES_PER_HOUR", 100)
# Days a rejected-row sample is kept in the database before the periodic job deletes it.
REJECTED_SAMPLES_DAYS = _int("REJECTED_SAMPLES_DAYS", 30)


# --- Admission control and a deployment safe to expose (contract §2, §6.4, §11) ---------------------
# Quotas (contract §11): a project's event rate per minute and the burst it may send at once. The
# project's own fields override these; docs/operations.md says how to size them.
QUOTA_EVENTS_PER_MINUTE = _int("QUOTA_EVENTS_PER_MINUTE", 60_000)
QUOTA_BURST = _int("QUOTA_BURST", 20_000)
# Above this rate a project's batches wait in the `bulk` queue, behind every other project's events.
FAIR_SHARE_EVENTS_PER_MINUTE = _int("FAIR_SHARE_EVENTS_PER_MINUTE", 60_000)
# Batches of one project handled at once by all web processes together: the others' requests always
# find a free web process. Half of this machine's web processes (gunicorn's WEB_CONCURRENCY) by default.
BATCHES_IN_FLIGHT = _int("BATCHES_IN_FLIGHT", max(1, _int("WEB_CONCURRENCY", 1) // 2))


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
        raise ValueError(f"{name}={value!r}: expected a share of maxmemory (80%) or a size (2gb, 512mb)") from None


# Above this much Redis memory the API answers 503 and the workers drain (contract §11).
REDIS_HIGH_WATER_BYTES, REDIS_HIGH_WATER_SHARE = _high_water("REDIS_HIGH_WATER_MARK", "80%")

# Forwarded-IP headers count only from these proxies (CIDRs) and from callers with the client secret.
TRUSTED_PROXIES = _list("TRUSTED_PROXIES", ["127.0.0.1/32", "::1/128"])
# The headers a trusted proxy sets; x-forwarded-for and forwarded are read from the right.
PROXY_IP_HEADERS = _list("PROXY_IP_HEADERS", ["x-forwarded-for"])

# TLS behind a proxy. SECURE_PROXY_SSL_HEADER names the header that says "https" (X-Forwarded-Proto).
SECURE_PROXY_SSL_HEADER = _str("SECURE_PROXY_SSL_HEADER")
CSRF_TRUSTED_ORIGINS = _list("CSRF_TRUSTED_ORIGINS", [])
SECURE_SSL_REDIRECT = _bool("SECURE_SSL_REDIRECT", default=False)
SECURE_COOKIES = _bool("SECURE_COOKIES", default=not DEBUG)
SECURE_HSTS_SECONDS = _int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = _bool("SECURE_HSTS_PRELOAD", default=False)

# The placeholder of docker/.env.example: refused at start-up when DEBUG is off.
EXAMPLE_SECRET = "change-me"  # noqa: S105 - the value refused, not a secret


def example_secrets() -> list[str]:
    """The variables that still hold the example placeholder (in a URL's password too)."""
    values = {"DJANGO_SECRET_KEY": DJANGO_SECRET_KEY, "DATABASE_URL": DATABASE_URL,
              "REDIS_URL": REDIS_URL, "CLICKHOUSE_URL": CLICKHOUSE_URL}  # fmt: skip
    return [name for name, value in values.items() if EXAMPLE_SECRET in value]
