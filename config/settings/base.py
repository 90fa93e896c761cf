"""Django settings for Spool. Every value that varies between machines comes from config.env."""
import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config import env
from ingest.observe.errors import start_reporting
from ingest.observe.logs import logging_config
from storage import queues

BASE_DIR = env.BASE_DIR
DEBUG = env.DEBUG

if env.DJANGO_SECRET_KEY:
    SECRET_KEY = env.DJANGO_SECRET_KEY
elif DEBUG:
    SECRET_KEY = "insecure-local-development-key"  # noqa: S105 - only ever used with DEBUG on
else:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY is required when DEBUG is off")

ALLOWED_HOSTS = env.DJANGO_ALLOWED_HOSTS

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_rq",
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

# The /track routes read and limit their bodies themselves (gzip, NDJSON, 413 while decompressing).
DATA_UPLOAD_MAX_MEMORY_SIZE = None

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
        # JSON, written with orjson (storage.queues.JobSerializer); the worker reads it as plain JSON.
        "SERIALIZER": "storage.queues.JobSerializer",
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
CLICKHOUSE_URL = env.CLICKHOUSE_URL
CLICKHOUSE_CLUSTER = env.CLICKHOUSE_CLUSTER
GEOIP_PATH = env.GEOIP_PATH
SESSION_TIMEOUT_SECONDS = env.SESSION_TIMEOUT_SECONDS
SESSION_WINDOW_SECONDS = env.SESSION_WINDOW_SECONDS
SESSION_SWEEP_SECONDS = env.SESSION_SWEEP_SECONDS
JOB_RETRY_INTERVALS = env.JOB_RETRY_INTERVALS
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
# Redis memory above this share of maxmemory is shown in red on the ingestion health page.
REDIS_MEMORY_WARNING_SHARE = 0.8
MAX_PROFILE_PROPERTIES = env.MAX_PROFILE_PROPERTIES
MAX_PROFILE_GROUPS = env.MAX_PROFILE_GROUPS
# A job holds at most this many events (contract §7: one job per chunk of up to 500).
EVENTS_PER_JOB = 500
# Seconds a project's credentials and salts are cached in each web process.
PROJECT_CACHE_SECONDS = 3

LOGGING = logging_config(env.LOG_LEVEL, env.LOG_FORMAT)

start_reporting(env.SENTRY_DSN, env.SENTRY_ENVIRONMENT)  # only when SENTRY_DSN is set
