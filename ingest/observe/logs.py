"""Log records with the ids of their request or job, as plain lines or (LOG_FORMAT=json) one JSON
object per line, which log collectors (Loki, Elasticsearch, CloudWatch) read without a parser."""
import logging
from datetime import UTC, datetime

import orjson

from ingest.observe import context

_IDS = (("request_id", context.request_id), ("project_id", context.project_id), ("job_id", context.job_id))


class ContextFilter(logging.Filter):
    """Puts the current request id, project id and job id on every record ("" outside of one), and
    `ids`, the ones that are set, for the plain format."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _IDS:
            if not getattr(record, name, ""):
                setattr(record, name, var.get())
        if not getattr(record, "request_id", ""):
            # django.request logs a 4xx or 5xx after the middleware has returned (and cleared the
            # ids): the record carries the request, and the request its id.
            record.request_id = getattr(getattr(record, "request", None), "request_id", "")
        found = " ".join(f"{name[:-3]}={getattr(record, name)}" for name, _ in _IDS if getattr(record, name))
        record.ids = f" [{found}]" if found else ""
        return True


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "request_id", "project_id", "job_id"[, "exception"]}`."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, _ in _IDS:
            value = getattr(record, name, "")
            if value:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


# gunicorn's access-log atoms (gunicorn.glogging.Logger.atoms) and the keys they take in a JSON line.
_ACCESS_FIELDS = (
    ("h", "remote"), ("m", "method"), ("U", "path"), ("q", "query"), ("H", "protocol"), ("s", "status"),
    ("B", "bytes"), ("M", "duration_ms"), ("f", "referer"), ("a", "user_agent"),
)  # fmt: skip


class AccessJsonFormatter(JsonFormatter):
    """gunicorn's access log (LOG_FORMAT=json) as one JSON object a request, with the request's
    fields and its request id (the X-Request-ID of the answer), beside the classic line."""

    def format(self, record: logging.LogRecord) -> str:
        atoms = record.args if isinstance(record.args, dict) else {}
        entry: dict = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for atom, key in _ACCESS_FIELDS:
            value = atoms.get(atom, "-")
            if isinstance(value, str):
                value = value.replace('\\"', '"')  # gunicorn escapes quotes for its classic line
            if value not in ("-", "", None):
                entry[key] = int(value) if key in ("status", "bytes", "duration_ms") and str(value).isdigit() else value
        request_id = atoms.get("{x-request-id}o", "-") if atoms else "-"
        if request_id not in ("-", ""):
            entry["request_id"] = request_id
        return orjson.dumps(entry, default=str).decode()


def logging_config(level: str, log_format: str) -> dict:
    """Django's LOGGING: one console handler, with the ids on every record."""
    plain = "%(asctime)s %(levelname)s %(name)s %(message)s%(ids)s"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"ids": {"()": "ingest.observe.logs.ContextFilter"}},
        "formatters": {
            "plain": {"format": plain},
            "json": {"()": "ingest.observe.logs.JsonFormatter"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["ids"]},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "rq.worker": {"level": "WARNING"},
            "axes": {"level": "WARNING"},
            # Django's own console handler (DEBUG on) printed every django.request record a second
            # time beside ours: its records go to our handler only.
            "django": {"handlers": [], "propagate": True},
        },
    }
