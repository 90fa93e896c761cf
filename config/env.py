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

# Profile and group documents (contract §7 r2): property keys per document, groups per profile.
# A change beyond them is applied up to the limit; the rest is counted as rejected (`profile_limit`).
MAX_PROFILE_PROPERTIES = _int("MAX_PROFILE_PROPERTIES", 1000)
MAX_PROFILE_GROUPS = _int("MAX_PROFILE_GROUPS", 100)
