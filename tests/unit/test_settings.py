"""Settings that explain themselves (issue 11 §8): every environment variable is checked when config.env
is read, a wrong value names the variable, the value and what is accepted, and an empty value is the
default. The module is read again for each case, as a process start reads it."""
import importlib
import os

import pytest

from config import env

# (variable, a value it refuses, words of the message, the attribute, its default)
CASES = [
    ("DEBUG", "maybe", "1, true, yes, on, or 0, false, no, off", "DEBUG", False),
    ("SPOOL_MODE", "prod", "one of local, production", "SPOOL_MODE", "local"),
    ("DJANGO_ALLOWED_HOSTS", None, None, "DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"]),
    ("DATABASE_URL", "mysql://db/spool", "a URL starting with sqlite:// or postgres:// or postgresql:// or pgsql://", "DATABASE_URL", None),
    ("REDIS_URL", "127.0.0.1:6379", "a URL starting with redis:// or rediss:// or unix://", "REDIS_URL", "redis://127.0.0.1:6379/0"),
    ("CLICKHOUSE_URL", "http://127.0.0.1:8123", "a URL starting with clickhouse:// or clickhouses://", "CLICKHOUSE_URL",
     "clickhouse://default:@127.0.0.1:9000/spool"),
    ("CLICKHOUSE_CLUSTER", None, None, "CLICKHOUSE_CLUSTER", ""),
    ("GEOIP_PATH", None, None, "GEOIP_PATH", ""),
    ("LOG_LEVEL", "LOUD", "one of DEBUG, INFO, WARNING, ERROR, CRITICAL", "LOG_LEVEL", "INFO"),
    ("LOG_FORMAT", "xml", "one of plain, json", "LOG_FORMAT", "plain"),
    ("SENTRY_DSN", None, None, "SENTRY_DSN", ""),
    ("SENTRY_ENVIRONMENT", None, None, "SENTRY_ENVIRONMENT", "production"),
    ("METRICS_TOKEN", None, None, "METRICS_TOKEN", ""),
    ("METRICS_PUBLIC", "maybe", "1, true, yes, on, or 0, false, no, off", "METRICS_PUBLIC", False),
    ("SESSION_TIMEOUT_SECONDS", "30m", "a whole number from 1 to 604800", "SESSION_TIMEOUT_SECONDS", 1800),
    ("SESSION_WINDOW_SECONDS", "0", "a whole number from 10 to 86400", "SESSION_WINDOW_SECONDS", 1800),
    ("SESSION_SWEEP_SECONDS", "-5", "a whole number from 1 to 3600", "SESSION_SWEEP_SECONDS", 30),
    ("JOB_RETRY_INTERVALS", "5,ten", "a comma list of whole numbers from 1 to 86400", "JOB_RETRY_INTERVALS",
     [5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200]),
    ("WORKER_BLOCK_BYTES", "16mb", "a whole number from 0 to 1073741824", "WORKER_BLOCK_BYTES", 16 * 1024**2),
    ("MAX_EVENT_BODY_BYTES", "1MB", "a whole number from 1024 to 1073741824", "MAX_EVENT_BODY_BYTES", 1024 * 1024),
    ("MAX_BATCH_BODY_BYTES", "12", "a whole number from 1024 to 1073741824", "MAX_BATCH_BODY_BYTES", 10 * 1024 * 1024),
    ("MAX_BATCH_EVENTS", "2k", "a whole number from 1 to 100000", "MAX_BATCH_EVENTS", 2000),
    ("MAX_EVENT_BYTES", "1e5", "a whole number from 256 to 16777216", "MAX_EVENT_BYTES", 64 * 1024),
    ("MAX_EVENT_NAME_LENGTH", "0", "a whole number from 1 to 1000", "MAX_EVENT_NAME_LENGTH", 80),
    ("MAX_PROPERTY_KEYS", "many", "a whole number from 1 to 100000", "MAX_PROPERTY_KEYS", 500),
    ("CLIENT_IP_HEADERS", None, None, "CLIENT_IP_HEADERS", None),
    ("REJECTED_SAMPLES_PER_HOUR", "1.5", "a whole number from 0 to 1000000", "REJECTED_SAMPLES_PER_HOUR", 100),
    ("REJECTED_SAMPLES_DAYS", "0", "a whole number from 1 to 3650", "REJECTED_SAMPLES_DAYS", 30),
    ("RETENTION_MONTHS", "a year", "a whole number from 0 to 1200", "RETENTION_MONTHS", 0),
    ("MAX_PROFILE_PROPERTIES", "1k", "a whole number from 1 to 1000000", "MAX_PROFILE_PROPERTIES", 1000),
    ("MAX_PROFILE_GROUPS", "0", "a whole number from 1 to 100000", "MAX_PROFILE_GROUPS", 100),
    # Admission control and deployment (issue 10).
    ("QUOTA_EVENTS_PER_MINUTE", "fast", "a whole number from 1 to 1000000000000", "QUOTA_EVENTS_PER_MINUTE", 60_000),
    ("QUOTA_BURST", "0", "a whole number from 1 to 1000000000000", "QUOTA_BURST", 20_000),
    ("FAIR_SHARE_EVENTS_PER_MINUTE", "1/s", "a whole number from 1 to 1000000000000", "FAIR_SHARE_EVENTS_PER_MINUTE",
     60_000),
    ("QUOTA_BYTES_PER_EVENT", "5k", "a whole number from 1 to 1073741824", "QUOTA_BYTES_PER_EVENT", 5242),
    ("NEW_DEVICES_PER_MINUTE", "0", "a whole number from 1 to 1000000000000", "NEW_DEVICES_PER_MINUTE", 20_000),
    ("NEW_DEVICES_BURST", "-1", "a whole number from 1 to 1000000000000", "NEW_DEVICES_BURST", 20_000),
    # The web server (issue 17: slow clients, fairness).
    ("WEB_CONCURRENCY", "two", "a whole number from 1 to 1024", "WEB_CONCURRENCY", 2),
    ("WEB_THREADS", "0", "a whole number from 1 to 256", "WEB_THREADS", 4),
    ("WEB_CONNECTIONS", "1", "a whole number from 2 to 100000", "WEB_CONNECTIONS", 256),
    ("PROJECT_REQUESTS_IN_FLIGHT", "0", "a whole number from 1 to 100000", "PROJECT_REQUESTS_IN_FLIGHT", 128),
    ("REQUEST_HEADER_SECONDS", "10s", "a whole number from 1 to 3600", "REQUEST_HEADER_SECONDS", 10),
    ("REQUEST_BODY_SECONDS", "0", "a whole number from 1 to 3600", "REQUEST_BODY_SECONDS", 30),
    ("WEB_BUFFER_BYTES", "64mb", "a whole number from 1048576 to 68719476736", "WEB_BUFFER_BYTES", 64 * 1024 * 1024),
    ("SPOOL_PARSE_LOCK", None, None, "SPOOL_PARSE_LOCK", ""),
    ("REDIS_HIGH_WATER_MARK", "lots", "a share of maxmemory above 0% up to 100% (80%) or a size of at least 1mb (2gb, 512mb, 1073741824)",
     "REDIS_HIGH_WATER_SHARE", 0.8),
    ("REDIS_WORKER_RESERVE", "lots", "a share of maxmemory above 0% up to 100% (80%) or a size of at least 1mb (2gb, 512mb, 1073741824)",
     "REDIS_WORKER_RESERVE_SHARE", 0.2),
    ("TRUSTED_PROXIES", "10.0.0.0/33", "a comma list of CIDRs (10.0.0.0/8, 127.0.0.1/32)", "TRUSTED_PROXIES",
     ["127.0.0.1/32", "::1/128"]),
    ("PROXY_IP_HEADERS", None, None, "PROXY_IP_HEADERS", ["x-forwarded-for"]),
    ("SECURE_PROXY_SSL_HEADER", None, None, "SECURE_PROXY_SSL_HEADER", ""),
    ("CSRF_TRUSTED_ORIGINS", None, None, "CSRF_TRUSTED_ORIGINS", []),
    ("SECURE_SSL_REDIRECT", "maybe", "1, true, yes, on, or 0, false, no, off", "SECURE_SSL_REDIRECT", False),
    ("SECURE_COOKIES", "maybe", "1, true, yes, on, or 0, false, no, off", "SECURE_COOKIES", True),
    ("SECURE_HSTS_SECONDS", "1y", "a whole number from 0 to 315360000", "SECURE_HSTS_SECONDS", 31_536_000),
    ("SECURE_HSTS_INCLUDE_SUBDOMAINS", "maybe", "1, true, yes, on, or 0, false, no, off", "SECURE_HSTS_INCLUDE_SUBDOMAINS", False),
    ("SECURE_HSTS_PRELOAD", "maybe", "1, true, yes, on, or 0, false, no, off", "SECURE_HSTS_PRELOAD", False),
]  # fmt: skip


@pytest.fixture
def read_env(monkeypatch):
    """Read config.env again with some variables set; the module is restored afterwards."""
    names = [case[0] for case in CASES] + ["DJANGO_SECRET_KEY"]

    def read(**values):
        for name in names:
            monkeypatch.delenv(name, raising=False)
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        return importlib.reload(env)

    yield read
    monkeypatch.undo()
    importlib.reload(env)


def test_every_variable_read_from_the_environment_is_in_the_table():
    source = (env.BASE_DIR / "config" / "env.py").read_text()
    import re

    read = set(re.findall(r'_(?:str|bool|int|ints|list|url|choice|high_water|cidrs|secret)\(\s*"([A-Z_]+)"', source))
    assert read - {"DJANGO_SECRET_KEY"} == {case[0] for case in CASES}


# The others take any text (a path, a name, a list of header names).
CHECKED = [case for case in CASES if case[1] is not None]


@pytest.mark.parametrize("name, bad, expected, attribute, default", CHECKED, ids=[case[0] for case in CHECKED])
def test_a_wrong_value_names_the_variable_and_what_it_accepts(read_env, name, bad, expected, attribute, default):
    with pytest.raises(ValueError) as raised:  # config.env.SettingError, of the module as read again
        read_env(**{name: bad})
    assert type(raised.value).__name__ == "SettingError"
    assert str(raised.value) == f"{name}={bad!r}: expected {expected}"


@pytest.mark.parametrize("name, bad, expected, attribute, default", CASES, ids=[case[0] for case in CASES])
@pytest.mark.parametrize("empty", ["", "  "])
def test_an_empty_value_means_the_default(read_env, name, bad, expected, attribute, default, empty):
    unset = getattr(read_env(), attribute)
    assert getattr(read_env(**{name: empty}), attribute) == unset
    if default is not None:
        assert unset == default


def test_the_examples_of_the_issue(read_env):
    # JOB_RETRY_INTERVALS= turned every batch into a 500 (an empty list of retries); 2k was a bare ValueError.
    assert read_env(JOB_RETRY_INTERVALS="").JOB_RETRY_INTERVALS == [5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200]
    assert read_env(JOB_RETRY_INTERVALS=" , ,").JOB_RETRY_INTERVALS == [5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200]
    assert read_env(JOB_RETRY_INTERVALS="1, 2,3").JOB_RETRY_INTERVALS == [1, 2, 3]
    with pytest.raises(ValueError, match=r"^MAX_BATCH_EVENTS='2k': expected a whole number from 1 to 100000$"):
        read_env(MAX_BATCH_EVENTS="2k")
    assert read_env(MAX_BATCH_EVENTS=" 500 ").MAX_BATCH_EVENTS == 500
    assert read_env(DEBUG="Yes").DEBUG is True and read_env(DEBUG="off").DEBUG is False
    assert read_env(LOG_LEVEL="warning").LOG_LEVEL == "WARNING"
    assert read_env(DJANGO_ALLOWED_HOSTS=" , ").DJANGO_ALLOWED_HOSTS == ["127.0.0.1", "localhost", "[::1]"]


def _manage_check(**variables: str):
    """`manage.py check` in a process of its own, as an operator starts one."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=env.BASE_DIR, capture_output=True, text=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.base", **variables},
    )  # fmt: skip


def test_a_process_with_a_wrong_setting_stops_with_the_message():
    result = _manage_check(MAX_BATCH_EVENTS="2k", DEBUG="1")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == ["spool: MAX_BATCH_EVENTS='2k': expected a whole number from 1 to 100000"]


def test_a_web_process_does_not_build_clickhouse_drivers_date_table():
    """clickhouse-driver's table of every date 1900-2299 cost each web worker ~19 MB (issue 13, B4):
    in a process started as gunicorn starts one, it is the lazy one, and gives the same dates."""
    import subprocess
    import sys

    script = (
        "from django.core.wsgi import get_wsgi_application; get_wsgi_application()\n"
        "import datetime; from clickhouse_driver.columns.datecolumn import DateColumn as D\n"
        "lut = D.date_lut; print(len(lut), lut[20000] == datetime.date(1970, 1, 1) + datetime.timedelta(20000))"
    )
    clean = {name: value for name, value in os.environ.items() if name != "CLICKHOUSE_DRIVER_LASY_DATE_LUT"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=env.BASE_DIR, capture_output=True, text=True,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings.base", "DEBUG": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "True"]


# --- issue 17, finding 11: values that passed and silently turned a protection off -------------------
HIGH_WATER_EXPECTED = "a share of maxmemory above 0% up to 100% (80%) or a size of at least 1mb (2gb, 512mb, 1073741824)"


@pytest.mark.parametrize("bad", ["0", "-1gb", "0%", "-5%", "0mb", "0.4mb", "512kb", "-1", "infgb", "nan%", "1e400",
                                 "gb", "%", "101%", "1.5"])  # fmt: skip
def test_a_high_water_mark_that_would_disable_admission_is_refused(read_env, bad):
    # 0 and negative sizes read as "no mark": admission never refused anything.
    with pytest.raises(ValueError) as raised:
        read_env(REDIS_HIGH_WATER_MARK=bad)
    assert str(raised.value) == f"REDIS_HIGH_WATER_MARK={bad.lower()!r}: expected {HIGH_WATER_EXPECTED}"


@pytest.mark.parametrize("good, size, share", [("80%", 0, 0.8), ("100%", 0, 1.0), ("0.5%", 0, 0.005),
                                               ("1mb", 1024**2, 0.0), ("1.5gb", 3 * 1024**3 // 2, 0.0),
                                               ("1073741824", 1024**3, 0.0), (" 2 GB ", 2 * 1024**3, 0.0)])  # fmt: skip
def test_high_water_marks_that_mean_something(read_env, good, size, share):
    read = read_env(REDIS_HIGH_WATER_MARK=good)
    assert (read.REDIS_HIGH_WATER_BYTES, read.REDIS_HIGH_WATER_SHARE) == (size, share)


WEAK_KEY = "expected at least 50 characters, 5 or more of them different, not starting with 'django-insecure-', when DEBUG is off"


@pytest.mark.parametrize("weak", ["live-test-secret", "x" * 64, "abcd" * 20, "django-insecure-" + "k3y-" * 20,
                                  "  short with spaces  "])  # fmt: skip
def test_a_weak_secret_key_stops_a_production_process_without_showing_it(read_env, weak):
    with pytest.raises(ValueError) as raised:
        read_env(DJANGO_SECRET_KEY=weak)
    message = str(raised.value)
    assert message.startswith("DJANGO_SECRET_KEY (") and message.endswith(WEAK_KEY)
    assert weak.strip() not in message  # a secret is never printed, not even a wrong one


def test_secret_keys_that_pass(read_env):
    import secrets

    strong = secrets.token_urlsafe(50)
    assert read_env(DJANGO_SECRET_KEY=strong).DJANGO_SECRET_KEY == strong
    assert read_env(DJANGO_SECRET_KEY="short", DEBUG="1").DJANGO_SECRET_KEY == "short"  # development only
    assert read_env().DJANGO_SECRET_KEY == ""  # missing: config/settings/base.py says it is required
    # The placeholder of docker/.env.example has its own message (config/settings/base.py).
    assert read_env(DJANGO_SECRET_KEY="change-me").DJANGO_SECRET_KEY == "change-me"


def test_a_process_with_a_weak_secret_key_stops_with_one_line():
    result = _manage_check(DJANGO_SECRET_KEY="too-short", DEBUG="0")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "spool: DJANGO_SECRET_KEY (9 characters, 6 different): " + WEAK_KEY
    ]  # one line, no traceback, and not the key itself


def test_gunicorn_with_a_wrong_setting_stops_with_its_line_and_no_traceback():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", "127.0.0.1:0", "--workers", "1"],
        cwd=env.BASE_DIR, capture_output=True, text=True, timeout=60,
        env={**os.environ, "REDIS_HIGH_WATER_MARK": "-1gb", "DJANGO_SETTINGS_MODULE": "config.settings.base",
             "DEBUG": "1"},
    )  # fmt: skip
    assert result.returncode != 0  # the master halts: it does not respawn a worker that cannot boot
    assert f"spool: REDIS_HIGH_WATER_MARK='-1gb': expected {HIGH_WATER_EXPECTED}" in result.stderr.splitlines()
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("weak", ["x", "metrics", "scrape-me", "aaaaaaaaaaaaaaaaaaaa"])
def test_a_guessable_metrics_token_stops_a_production_process_without_showing_it(read_env, weak):
    """The same rule for the other secret Spool reads: /metrics' bearer token."""
    with pytest.raises(ValueError) as raised:
        read_env(METRICS_TOKEN=weak)
    assert str(raised.value) == (f"METRICS_TOKEN ({len(weak)} characters, {len(set(weak))} different): expected at "
                                 "least 16 characters, 5 or more of them different, when DEBUG is off")  # fmt: skip
    assert read_env(METRICS_TOKEN=weak, DEBUG="1").METRICS_TOKEN == weak  # development only
    assert read_env(METRICS_TOKEN="a-scraper-token-of-enough-length").METRICS_TOKEN == "a-scraper-token-of-enough-length"
