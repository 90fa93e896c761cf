"""gunicorn's own logs in Spool's format: with LOG_FORMAT=json its error log (start, stop, worker
boots and failures) and its access log are one JSON object per line like every other record
(ingest/observe/logs.py), so a log shipper reads every line of the web processes (issue 18: they
stayed plain text in the same stream). gunicorn.conf.py names this class."""
from typing import Any

from gunicorn import glogging

from config import env
from ingest.observe.logs import AccessJsonFormatter, JsonFormatter


class SpoolLogger(glogging.Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if env.LOG_FORMAT != "json":
            return
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())
        for handler in self.access_log.handlers:
            handler.setFormatter(AccessJsonFormatter())
