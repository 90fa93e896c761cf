"""Issue 17, finding 11: security. The admin's set-aside page scoped per project, the queue pages
gated whatever URL prefix reaches them, /metrics closed by default with bounded labels, and what
Sentry is sent."""
import pytest
from django.contrib.auth import get_user_model

from projects.services import create_project
from storage.queue import buffers
from tests.support.events import now_ms
from tests.support.worker import drain

pytestmark = pytest.mark.django_db

SET_ASIDE = "/admin/ingest/rejectedsample/set-aside/"


def _context(project_id: str) -> dict:
    """A request context as the API queues it."""
    agent = {"os": "", "os_version": "", "browser": "", "browser_version": "", "device": "server", "brand": "",
             "model": ""}  # fmt: skip
    geo = {"country": "", "city": "", "region": "", "latitude": None, "longitude": None}
    return {"project_id": project_id, "backfill_days": 5, "received_ms": now_ms(), "ip": "", "geo": geo,
            "agent": agent, "sdk_name": "", "sdk_version": ""}  # fmt: skip


def _set_aside_a_change_of(project_id: str, marker: str) -> None:
    """A change the worker cannot apply (a blank profile id, as the release before queued it), set
    aside under its project by the real drain."""
    change = {"type": "identify", "profile_id": None, "properties": {"marker": marker}}
    buffers.push(_context(project_id), [], [change])


@pytest.fixture
def two_projects(db, project):
    other, _ = create_project("Other shop", origins=["https://other.example"])
    users = get_user_model().objects
    alice = users.create_user("alice", password="pw-alice-long-1", is_staff=True)
    project.members.add(alice)
    return project, other, alice


# --- the set-aside page -------------------------------------------------------------------------------
def test_a_project_admin_sees_only_what_was_set_aside_from_their_projects(client, admin_client, two_projects):
    mine, theirs, alice = two_projects
    _set_aside_a_change_of(mine.id, "mine-marker")
    _set_aside_a_change_of(theirs.id, "theirs-marker")
    from storage.redis import client as redis

    redis.client().rpush(buffers.EVENT_BUFFER.key, b"{unreadable, of no project}")
    buffers.move_events_to_queue()  # sets it aside, under no project
    drain()

    client.force_login(alice)
    page = client.get(SET_ASIDE)
    assert page.status_code == 200
    text = page.content.decode()
    assert "mine-marker" in text
    assert "theirs-marker" not in text and theirs.id not in text
    assert "unreadable, of no project" not in text  # no project: an operator's
    assert "profiles: <strong>1</strong>" in text and "events: <strong>0</strong>" in text  # their counts only
    notice = client.get("/admin/ingest/rejectedsample/").content.decode()
    assert "1 item set aside" in notice

    everything = admin_client.get(SET_ASIDE).content.decode()  # a superuser sees all of it
    assert "mine-marker" in everything and "theirs-marker" in everything and "of no project" in everything
    assert "profiles: <strong>2</strong>" in everything and "events: <strong>1</strong>" in everything


def test_a_project_admins_view_reads_a_bounded_part_of_a_long_list():
    from storage.queue import poison

    # 250 items, every third one of project "a".
    poison.put([poison.entry("events", {"n": n}, ValueError("bad"), "a" if n % 3 == 0 else "b") for n in range(250)])
    found, count, complete = poison.listed_from("events", {"a"}, limit=10, scan=120)
    assert (len(found), count, complete) == (10, 40, False)  # n = 0, 3, ... 117 among the first 120
    assert [orjson_item(entry) for entry in found] == [{"n": n} for n in range(0, 30, 3)]
    assert poison.listed_from("events", {"a"}, limit=1000, scan=1000)[1:] == (84, True)
    assert poison.listed_from("events", {"a"}, limit=10, scan=250)[1:] == (84, True)
    assert poison.listed_from("events", set(), limit=10, scan=1000) == ([], 0, True)


def orjson_item(entry) -> dict:
    import orjson

    return orjson.loads(entry["item"])


def test_a_staff_user_in_no_project_cannot_open_the_set_aside_page(client, two_projects):
    _, theirs, _ = two_projects
    _set_aside_a_change_of(theirs.id, "theirs-marker")
    drain()
    nobody = get_user_model().objects.create_user("nobody", password="pw-nobody-long-1", is_staff=True)
    client.force_login(nobody)
    page = client.get(SET_ASIDE)
    assert page.status_code == 403 and b"theirs-marker" not in page.content


# --- the queue pages (django-rq) -----------------------------------------------------------------------
QUEUE_PAGES = ["/admin/django-rq/", "/admin/django-rq/queues/0/", "/admin/django_rq/dashboard/",
               "/admin/django_rq/dashboard/queues/0/"]  # fmt: skip


@pytest.fixture
def staff_client(client):
    """A staff user (not a superuser) with every model permission there is."""
    from django.contrib.auth.models import Permission

    staff = get_user_model().objects.create_user("staff", password="pw-staff-long-1", is_staff=True)
    staff.user_permissions.set(Permission.objects.all())
    client.force_login(staff)
    return client


@pytest.mark.parametrize("script_name", ["", "/spool", "/admin"])
def test_the_queue_pages_are_refused_to_staff_under_any_script_name(staff_client, admin_client, script_name):
    """The gate compared request.path, which a SCRIPT_NAME prefix (a sub-path deployment, or the
    header gunicorn accepts from loopback) changes while the URL still resolves to django-rq's views."""
    for url in QUEUE_PAGES:
        assert staff_client.get(url, SCRIPT_NAME=script_name).status_code == 403, (script_name, url)
        assert admin_client.get(url, SCRIPT_NAME=script_name).status_code == 200, (script_name, url)
    empty = staff_client.post("/admin/django-rq/queues/0/empty/", SCRIPT_NAME=script_name)
    assert empty.status_code == 403


def test_the_queue_pages_through_gunicorn_with_a_script_name_header(tmp_path):
    """As an outsider on loopback (or behind a proxy there) reaches it: gunicorn takes SCRIPT_NAME
    from a request header when the peer is in forwarded_allow_ips (127.0.0.1 by default)."""
    import requests

    from tests.support.live import LiveStack

    stack = LiveStack(tmp_path)
    try:
        stack.start(workers=0, web_workers=1)
        session_key = stack.manage("shell", "-c", (
            "from django.contrib.auth import get_user_model, SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY\n"
            "from django.contrib.sessions.backends.db import SessionStore\n"
            "user = get_user_model().objects.create_user('staff', password='pw-staff-long-1', is_staff=True)\n"
            "session = SessionStore()\n"
            "session.update({SESSION_KEY: str(user.pk), HASH_SESSION_KEY: user.get_session_auth_hash(),\n"
            "                BACKEND_SESSION_KEY: 'django.contrib.auth.backends.ModelBackend'})\n"
            "session.create()\n"
            "print(session.session_key)"
        )).split()[-1]  # fmt: skip
        cookies = {"sessionid": session_key}
        signed_in = requests.get(f"{stack.url}/admin/", cookies=cookies, timeout=10, allow_redirects=False)
        assert signed_in.status_code == 200  # the session is a staff user's
        for url in ("/admin/django-rq/", "/admin/django_rq/dashboard/"):
            plain = requests.get(f"{stack.url}{url}", cookies=cookies, timeout=10, allow_redirects=False)
            prefixed = requests.get(f"{stack.url}/x{url}", headers={"SCRIPT_NAME": "/x"}, cookies=cookies, timeout=10,
                                    allow_redirects=False)  # fmt: skip
            assert (plain.status_code, prefixed.status_code) == (403, 403), url
    finally:
        stack.stop()


# --- /metrics ------------------------------------------------------------------------------------------
def test_metrics_are_closed_by_default_in_production(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_PUBLIC, settings.DEBUG = "", False, False
    for address in ("127.0.0.1", "203.0.113.5"):  # loopback too: a proxy on the same host forwards from there
        refused = client.get("/metrics", REMOTE_ADDR=address)
        assert refused.status_code == 403 and b"METRICS_TOKEN" in refused.content, address
        assert b"spool_" not in refused.content


def test_metrics_with_a_token_or_opened_on_purpose_or_on_a_development_machine(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_PUBLIC, settings.DEBUG = "scrape-me", False, False
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.5").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    scraped = client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_AUTHORIZATION="Bearer scrape-me")
    assert scraped.status_code == 200 and b"spool_redis_up 1.0" in scraped.content
    settings.METRICS_TOKEN, settings.METRICS_PUBLIC = "", True
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.5").status_code == 200
    settings.METRICS_PUBLIC, settings.DEBUG = False, True  # `make run`: from this machine only
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.5").status_code == 403


def test_request_labels_are_bounded_whatever_the_method_and_path(client, settings):
    """Every attacker-chosen method made a new series of spool_http_requests_total."""
    settings.METRICS_PUBLIC = True
    for method in ("BREW", "X-ATTACK-1", "get", "PROPFIND"):
        client.generic(method, "/track")
    for path in ("/no/such/page", "/track/../../etc", "/admin/projects/project/9999999/change/"):
        client.get(path)
    text = client.get("/metrics").content.decode()
    lines = [line for line in text.splitlines() if line.startswith("spool_http_requests_total{")]
    methods = {line.split('method="')[1].split('"')[0] for line in lines}
    routes = {line.split('route="')[1].split('"')[0] for line in lines}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}, methods
    assert "other" in methods
    assert not any("no/such" in route or "9999999" in route or "etc" in route for route in routes), routes


# --- error reports (Sentry) ------------------------------------------------------------------------------
@pytest.fixture
def sentry_reports():
    """A real Sentry client as start_reporting makes it, with a transport (the SDK's own extension
    point) that records every envelope it would send instead of sending it."""
    import sentry_sdk
    from sentry_sdk.transport import Transport

    from ingest.observe.errors import start_reporting

    class Recording(Transport):
        def __init__(self, options=None):
            super().__init__(options)
            self.sent: list[bytes] = []

        def capture_envelope(self, envelope):
            self.sent.append(envelope.serialize())

    transport = Recording()
    assert start_reporting("http://public@127.0.0.1:9/1", "test", transport=transport)
    assert not sentry_sdk.get_client().should_send_default_pii()
    yield transport.sent
    sentry_sdk.get_global_scope().set_client(None)  # back to no reporting, as without SENTRY_DSN


PERSONAL = "ada.lovelace@example.com"


def _nothing_secret_in(reports: list[bytes], *secrets: str) -> None:
    assert reports, "no report was made"
    for secret in (*secrets, PERSONAL):
        assert all(secret.encode() not in report for report in reports), secret


def test_a_request_error_report_holds_no_body_secret_salt_cookie_or_local_variable(
    client_for, project, sentry_reports, settings
):
    settings.ROOT_URLCONF = "tests.support.failing_urls"
    salts = list(project.salts.values_list("salt", flat=True))
    api = client_for(HTTP_AUTHORIZATION="Bearer a-bearer-token-value", HTTP_COOKIE="sessionid=a-session-cookie-value")
    body = {"clientSecret": project.secret, "payload": {"email": PERSONAL}}
    answer = api.post("/test-only/fails?email=" + PERSONAL, body, format="json", HTTP_X_REQUEST_ID="req-sentry-1")
    assert answer.status_code == 500
    _nothing_secret_in(sentry_reports, project.secret, *salts, "a-bearer-token-value", "a-session-cookie-value",
                       project.secret_hash, "81.2.69.142")  # fmt: skip
    report = b"".join(sentry_reports)
    assert b"RuntimeError" in report and b"req-sentry-1" in report  # still a useful report
    assert b'"vars"' not in report


def test_a_page_error_report_holds_no_cookie(admin_client, sentry_reports, settings):
    settings.ROOT_URLCONF = "tests.support.failing_urls"
    admin_client.raise_request_exception = False
    session_cookie = admin_client.cookies["sessionid"].value
    assert admin_client.get("/test-only/page-fails").status_code == 500
    _nothing_secret_in(sentry_reports, session_cookie)
    assert b"LookupError" in b"".join(sentry_reports)


def test_a_job_error_report_holds_no_job_arguments(project, sentry_reports):
    from rq import Queue

    from contract import messages
    from ingest.worker import registry
    from storage.queue import queues
    from storage.redis import client as redis

    ctx = _context(project.id)
    event = {"type": "track", "name": "signup", "ts": now_ms(), "properties": {"email": PERSONAL},
             "id": "00000000-0000-4000-8000-000000000001", "device_id": "d", "session_id": "s"}  # fmt: skip
    newer = {**messages.chunk([messages.event_packet(ctx, [event])]), "v": 99}  # a newer release's: the job fails
    Queue(queues.EVENTS, connection=redis.client(), serializer=queues.JobSerializer).enqueue_call(
        registry.PROCESS_EVENTS, args=(newer,), failure_ttl=600)  # fmt: skip
    drain()
    _nothing_secret_in(sentry_reports)
    report = b"".join(sentry_reports)
    assert b"UnknownFormat" in report and b'"job_id"' in report
