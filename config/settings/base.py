"""Django settings for Spool. Every value that varies between machines comes from config.env."""
import dj_database_url

from config import SettingError, env
from config.local_secret import local_secret_key
from config.version import VERSION
from ingest.observe.errors import start_reporting
from ingest.observe.logs import logging_config
from storage.queue import queues

BASE_DIR = env.BASE_DIR
DEBUG = env.DEBUG

if env.DJANGO_SECRET_KEY:
    SECRET_KEY = env.DJANGO_SECRET_KEY
elif DEBUG or env.SPOOL_MODE == "local":
    SECRET_KEY = local_secret_key(BASE_DIR / ".local")
else:
    raise SettingError(
        "DJANGO_SECRET_KEY is required in production mode (SPOOL_MODE=production): 50 or more random characters"
    )
if not DEBUG and env.example_secrets():
    raise SettingError(
        f"the example value '{env.EXAMPLE_SECRET}' of docker/.env.example is still in "
        f"{', '.join(env.example_secrets())}; set real secrets (docs/operations.md, 'Running it on the internet')"
    )

ALLOWED_HOSTS = env.DJANGO_ALLOWED_HOSTS

INSTALLED_APPS = [
    "ingest.explorer.site.SpoolAdminConfig",  # django.contrib.admin, with Spool's own site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_rq",
    "axes",
    "projects",
    "ingest",
    "sessions_app",
]

MIDDLEWARE = [
    # First: the request id (in every log record) and the request metrics of /metrics.
    "ingest.observe.middleware.ObserveMiddleware",
    # Collapses "//track" to "/track" and answers CORS for the /track routes.
    "ingest.api.middleware.TrackRoutesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # After authentication: the queue pages are for superusers only.
    "config.middleware.QueuePagesForSuperusers",
    # Last, as django-axes asks: answers a locked-out login with 429.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": dj_database_url.parse(env.DATABASE_URL, conn_max_age=600)}
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # Fail in seconds, not minutes, when PostgreSQL is unreachable (requests, /healthz).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Django's default form-body limit (2.5 MB) holds everywhere, the admin's login included (contract §11).
# The /track routes read their bodies through their own parsers (ingest/api/wire.py: gzip, NDJSON,
# 413 while decompressing), which stream the body and never meet this limit.

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": env.REDIS_URL,
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            # Fail fast when Redis is away: the API answers 503 instead of hanging.
            "SOCKET_CONNECT_TIMEOUT": 2,
            "SOCKET_TIMEOUT": 5,
        },
    }
}

RQ_QUEUES = {
    name: {
        "USE_REDIS_CACHE": "default",
        # JSON, written with orjson (storage.queue.queues.JobSerializer); the worker reads it as plain JSON.
        "SERIALIZER": "storage.queue.queues.JobSerializer",
        "DEFAULT_TIMEOUT": queues.JOB_TIMEOUT,
    }
    for name in queues.NAMES
}
RQ = {
    "WORKER_CLASS": "ingest.worker.spool_worker.SpoolWorker",
    # Enqueue at once: an event is acknowledged only after it is in Redis, whatever the DB does.
    "COMMIT_MODE": "auto",
}
RQ_SHOW_ADMIN_LINK = True

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Admin and API-docs assets are served by the app itself (WhiteNoise), also under gunicorn.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["ingest.api.wire.OrjsonRenderer"],
    "DEFAULT_PARSER_CLASSES": ["ingest.api.wire.JsonBodyParser"],
    "EXCEPTION_HANDLER": "ingest.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Spool ingestion API",
    "DESCRIPTION": (
        "OpenPanel-compatible event ingestion with bulk upload for offline-first clients. "
        "Every `/track` route is also served under `/api` (`/api/track`, `/api/track/batch`), for SDKs "
        "configured with `apiUrl=https://host/api`. Bodies may be gzip-compressed (`Content-Encoding: gzip`); "
        "limits apply to the decompressed size. Errors are always `{\"error\": code, \"message\": text}`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    "PREPROCESSING_HOOKS": ["ingest.api.openapi.without_api_prefix"],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "ingest.api.openapi.finish_schema"],
}

# --- Spool ---
SPOOL_VERSION = VERSION  # pyproject.toml's, shown by the landing page
CLICKHOUSE_URL = env.CLICKHOUSE_URL
CLICKHOUSE_CLUSTER = env.CLICKHOUSE_CLUSTER
GEOIP_PATH = env.GEOIP_PATH
SESSION_TIMEOUT_SECONDS = env.SESSION_TIMEOUT_SECONDS
SESSION_WINDOW_SECONDS = env.SESSION_WINDOW_SECONDS
SESSION_SWEEP_SECONDS = env.SESSION_SWEEP_SECONDS
JOB_RETRY_INTERVALS = env.JOB_RETRY_INTERVALS
WORKER_BLOCK_BYTES = env.WORKER_BLOCK_BYTES
MAX_EVENT_BODY_BYTES = env.MAX_EVENT_BODY_BYTES
MAX_BATCH_BODY_BYTES = env.MAX_BATCH_BODY_BYTES
MAX_BATCH_EVENTS = env.MAX_BATCH_EVENTS
MAX_EVENT_BYTES = env.MAX_EVENT_BYTES
MAX_EVENT_NAME_LENGTH = env.MAX_EVENT_NAME_LENGTH
MAX_PROPERTY_KEYS = env.MAX_PROPERTY_KEYS
CLIENT_IP_HEADERS = env.CLIENT_IP_HEADERS
REJECTED_SAMPLES_PER_HOUR = env.REJECTED_SAMPLES_PER_HOUR
REJECTED_SAMPLES_DAYS = env.REJECTED_SAMPLES_DAYS
RETENTION_MONTHS = env.RETENTION_MONTHS
METRICS_TOKEN = env.METRICS_TOKEN
METRICS_PUBLIC = env.METRICS_PUBLIC
MAX_PROFILE_PROPERTIES = env.MAX_PROFILE_PROPERTIES
MAX_PROFILE_GROUPS = env.MAX_PROFILE_GROUPS
# A job holds at most this many events (contract §7: one job per chunk of up to 500).
EVENTS_PER_JOB = 500
# Seconds a project's credentials and salts are cached in each web process.
PROJECT_CACHE_SECONDS = 3

LOGGING = logging_config(env.LOG_LEVEL, env.LOG_FORMAT)

start_reporting(env.SENTRY_DSN, env.SENTRY_ENVIRONMENT)  # only when SENTRY_DSN is set

# --- A deployment safe to expose (contract §11; docs/operations.md, "Running it on the internet") ----
QUOTA_EVENTS_PER_MINUTE = env.QUOTA_EVENTS_PER_MINUTE
QUOTA_BURST = env.QUOTA_BURST
FAIR_SHARE_EVENTS_PER_MINUTE = env.FAIR_SHARE_EVENTS_PER_MINUTE
QUOTA_BYTES_PER_EVENT = env.QUOTA_BYTES_PER_EVENT
SPOOL_PARSE_LOCK = env.SPOOL_PARSE_LOCK
NEW_DEVICES_PER_MINUTE = env.NEW_DEVICES_PER_MINUTE
NEW_DEVICES_BURST = env.NEW_DEVICES_BURST
REDIS_HIGH_WATER_BYTES = env.REDIS_HIGH_WATER_BYTES
REDIS_HIGH_WATER_SHARE = env.REDIS_HIGH_WATER_SHARE
REDIS_WORKER_RESERVE_BYTES = env.REDIS_WORKER_RESERVE_BYTES
REDIS_WORKER_RESERVE_SHARE = env.REDIS_WORKER_RESERVE_SHARE
TRUSTED_PROXIES = env.TRUSTED_PROXIES
PROXY_IP_HEADERS = env.PROXY_IP_HEADERS

if env.SECURE_PROXY_SSL_HEADER:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + env.SECURE_PROXY_SSL_HEADER.upper().replace("-", "_"), "https")
CSRF_TRUSTED_ORIGINS = env.CSRF_TRUSTED_ORIGINS
SECURE_SSL_REDIRECT = env.SECURE_SSL_REDIRECT
# Load balancers and the compose health check probe over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^(healthz|livez|readyz|metrics)$"]
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.SECURE_COOKIES
SECURE_HSTS_SECONDS = env.SECURE_HSTS_SECONDS
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.SECURE_HSTS_INCLUDE_SUBDOMAINS
SECURE_HSTS_PRELOAD = env.SECURE_HSTS_PRELOAD

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login throttling (django-axes): 5 failed logins for one user name from one address lock that pair
# out for 15 minutes (429). Keyed on both, so that nobody can lock an admin out from elsewhere.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The address as Spool reads it: forwarded headers only from TRUSTED_PROXIES.
AXES_CLIENT_IP_CALLABLE = "ingest.enrich.ip.login_ip"
