"""Issue 11 §6: LOG_FORMAT=json gives one JSON object per line, with the request id and project id on
every record of a request and the job id on every record of a job; Sentry only when SENTRY_DSN is set."""
import gzip
import http.server
import io
import logging.config
import threading

import orjson
import pytest
from django.conf import settings as django_settings

from contract import messages
from ingest.observe.logs import logging_config
from ingest.worker import registry
from storage.queue import queues
from tests.support.events import now_ms
from tests.support.live import LiveStack
from tests.support.waiting import eventually
from tests.support.worker import drain

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_logs():
    """Logging as LOG_FORMAT=json configures it, its console handler writing into a buffer."""
    logging.config.dictConfig(logging_config("INFO", "json"))
    buffer = io.StringIO()
    for handler in logging.getLogger().handlers:
        handler.setStream(buffer)

    def lines() -> list[dict]:
        return [orjson.loads(line) for line in buffer.getvalue().splitlines()]  # every line is one object

    yield lines
    logging.config.dictConfig(django_settings.LOGGING)


def test_records_of_a_request_carry_its_request_and_project_ids(api, project, json_logs):
    from storage.queue import buffers
    from storage.redis import client as redis

    redis.client().set(buffers.REJECTED_BUFFER.key, "not a list")  # recording a rejection logs a warning
    batch = {"events": [{"type": "track", "payload": {"name": ""}}]}
    response = api.post("/track/batch", batch, format="json", HTTP_X_REQUEST_ID="req-42")
    assert response.status_code == 202
    records = [line for line in json_logs() if line["logger"] == "ingest.pipeline.rejections"]
    assert records and records[0]["level"] == "WARNING" and "could not record" in records[0]["message"]
    assert records[0]["request_id"] == "req-42" and records[0]["project_id"] == project.id
    assert set(records[0]) >= {"time", "level", "logger", "message"}


def test_records_of_a_job_carry_its_job_id(project, json_logs):
    ctx = {"project_id": project.id, "backfill_days": 1, "received_ms": now_ms(), "ip": "", "sdk_name": "",
           "sdk_version": "", "geo": {"country": "", "city": "", "region": "", "latitude": None, "longitude": None},
           "agent": {"os": "", "os_version": "", "browser": "", "browser_version": "", "device": "server", "brand": "",
                     "model": ""}}  # fmt: skip
    too_old = {"type": "track", "name": "late", "ts": now_ms() - 3 * 86_400_000, "properties": {},
               "id": "00000000-0000-4000-8000-000000000001", "device_id": "d", "session_id": "s"}  # fmt: skip
    job = queues.enqueue_chunk([messages.event_packet(ctx, [too_old])])
    drain()
    records = [line for line in json_logs() if line["logger"] == "ingest.worker.write"]
    assert records and "fell outside" in records[0]["message"] and records[0]["job_id"] == job.id
    assert "request_id" not in records[0]


class _Collector(http.server.BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self):  # noqa: N802 - the name http.server calls
        body = self.rfile.read(int(self.headers["content-length"]))
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        self.received.append(body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def test_a_failed_job_is_reported_to_sentry_when_a_dsn_is_set(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stack = LiveStack(tmp_path, SENTRY_DSN=f"http://public@127.0.0.1:{server.server_port}/1")
    try:
        stack.start(workers=1, web_workers=1)
        import redis
        from rq import Queue

        connection = redis.Redis.from_url(stack.env["REDIS_URL"])
        bad = {**messages.chunk([]), "v": 99}  # a newer release's message: the job fails
        Queue(queues.EVENTS, connection=connection, serializer=queues.JobSerializer).enqueue_call(
            registry.PROCESS_EVENTS, args=(bad,), failure_ttl=600)  # fmt: skip
        report = eventually(lambda: [body for body in _Collector.received if b"UnknownFormat" in body], 30,
                            what="an error report at the fake Sentry")  # fmt: skip
        assert b'"job_id"' in report[0]
    finally:
        stack.stop()
        server.shutdown()


def test_no_sentry_without_a_dsn():
    import sentry_sdk

    assert django_settings.DEBUG is False and not sentry_sdk.get_client().is_active()
