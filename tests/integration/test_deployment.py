"""Issue 10: a deployment safe to expose. Body limits outside /track, the queue pages, TLS settings
and `check --deploy`, example secrets, passwords and login throttling, trusted client IPs, the
project admins' view of the admin, and the replay's rejected file."""
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from tests.support import stored
from tests.support.events import track
from tests.support.live import ROOT
from tests.support.worker import drain

pytestmark = pytest.mark.django_db

QUEUE_PAGES = ["/admin/django_rq/dashboard/", "/admin/django-rq/", "/admin/django-rq/queues/0/"]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    """manage.py in a process of its own, with only the given environment (and PATH)."""
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True,
        env={"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "config.settings.base", **env},
    )  # fmt: skip


def production_settings() -> dict[str, str]:
    """The block of docs/operations.md's "Production settings", with its placeholders filled in."""
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text[text.index("### Production settings") :]
    block = section[section.index("```sh") + 5 : section.index("```", section.index("```sh") + 5)]
    found = dict(re.findall(r"^([A-Z_]+)=(\S*)", block, re.M))
    found["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)  # what the docs ask for
    return found


# --- forms keep Django's body limits -----------------------------------------------------------------
def test_a_huge_form_post_to_the_admin_login_is_refused(client):
    body = b"username=a&password=" + b"x" * (3 * 1024 * 1024)
    response = client.generic("POST", "/admin/login/", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400


def test_track_still_reads_bodies_beyond_the_form_limit(api):
    events = [track("big", blob="x" * 30_000) for _ in range(120)]  # about 3.6 MB
    assert api.post("/track/batch", {"events": events}, format="json").json()["accepted"] == 120


# --- the queue pages -----------------------------------------------------------------------------------
def test_queue_pages_are_for_superusers_only(client, admin_client):
    from django.contrib.auth.models import Permission

    staff = get_user_model().objects.create_user("staff", password="pw-staff-long-1", is_staff=True)
    staff.user_permissions.set(Permission.objects.all())  # every model permission there is
    client.force_login(staff)
    for url in QUEUE_PAGES:
        assert client.get(url).status_code == 403, url
        assert admin_client.get(url).status_code == 200, url
    assert client.post("/admin/django-rq/queues/0/empty/").status_code == 403
    client.logout()
    assert "/admin/login/" in client.get(QUEUE_PAGES[1])["Location"]


# --- TLS behind a proxy, and `check --deploy` ----------------------------------------------------------
def test_check_deploy_is_clean_with_the_documented_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **production_settings())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_https_through_the_proxy_header_makes_secure_cookies_and_hsts(client, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.CSRF_TRUSTED_ORIGINS = ["https://spool.example.com"]
    settings.ALLOWED_HOSTS = ["spool.example.com"]
    https = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_HOST": "spool.example.com"}
    page = client.get("/admin/login/", **https)
    assert "max-age=31536000" in page["Strict-Transport-Security"]
    assert page.cookies["csrftoken"]["secure"]

    get_user_model().objects.create_superuser("root", password="a-long-admin-pass-1")
    client.handler.enforce_csrf_checks = True
    token = page.cookies["csrftoken"].value
    login = client.post(
        "/admin/login/", {"username": "root", "password": "a-long-admin-pass-1", "csrfmiddlewaretoken": token},
        HTTP_ORIGIN="https://spool.example.com", HTTP_REFERER="https://spool.example.com/admin/login/", **https,
    )  # fmt: skip
    assert login.status_code == 302, login.content[:300]  # the login through the TLS proxy works
    assert login.cookies["sessionid"]["secure"]


def test_the_example_secrets_are_refused_when_debug_is_off():
    base = production_settings()
    for name, value in (
        ("DJANGO_SECRET_KEY", "change-me"),
        ("DATABASE_URL", "postgres://spool:change-me@postgres:5432/spool"),
        ("CLICKHOUSE_URL", "clickhouse://spool:change-me@clickhouse:9000/spool"),
    ):
        result = manage("check", **{**base, name: value})
        assert result.returncode != 0 and f"change-me' of docker/.env.example is still in {name}" in result.stderr
    assert manage("check", **{**base, "DEBUG": "1", "DJANGO_SECRET_KEY": "change-me"}).returncode == 0


def test_compose_binds_loopback_and_bounds_redis():
    compose = (ROOT / "docker" / "compose.yml").read_text()
    ports = re.findall(r'^\s+- "(.+:\d+)"$', compose, re.M)
    assert ports and all(port.startswith("${SPOOL_BIND:-127.0.0.1}:") for port in ports), ports
    assert "--maxmemory" in compose and '"noeviction"' in compose


# --- passwords and logins ---------------------------------------------------------------------------
@pytest.mark.parametrize("password", ["short1", "password123456", "1234567890123", "admin-admin"])
def test_weak_passwords_are_refused(password):
    with pytest.raises(ValidationError):
        validate_password(password, get_user_model()(username="admin"))


def test_repeated_failed_logins_lock_that_user_and_address_out(client):
    get_user_model().objects.create_superuser("root", password="a-long-admin-pass-1")
    for _ in range(4):
        assert client.post("/admin/login/", {"username": "root", "password": "wrong"}).status_code == 200
    assert client.post("/admin/login/", {"username": "root", "password": "wrong"}).status_code == 429  # the 5th
    locked = client.post("/admin/login/", {"username": "root", "password": "a-long-admin-pass-1"})
    assert locked.status_code == 429
    elsewhere = client.post(
        "/admin/login/", {"username": "root", "password": "a-long-admin-pass-1"}, REMOTE_ADDR="198.51.100.7"
    )
    assert elsewhere.status_code == 302  # the lock-out is for that address, not for the admin


# --- trusted client IPs (contract §6.4) --------------------------------------------------------------
def _country(client, project, event_name: str, **extra) -> str:
    assert client.post("/track", track(event_name), format="json", **extra).status_code == 200
    drain()
    [row] = stored.events(project.id, f"name = '{event_name}'")
    return row["country"]


def test_forwarded_ip_headers_count_only_from_trusted_proxies_and_servers(client_for, project, geoip, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    browser = client_for(secret=False, ip=None, HTTP_ORIGIN="https://app.example.com")
    spoofed = {"HTTP_OPENPANEL_CLIENT_IP": "216.160.83.56", "HTTP_X_FORWARDED_FOR": "216.160.83.56"}
    # A browser that reaches us directly chooses nothing: its socket address counts.
    assert _country(browser, project, "direct", REMOTE_ADDR="81.2.69.142", **spoofed) == "GB"
    # Through our proxy: the proxy's word (the last address it appended), not what the browser set.
    through_proxy = {"REMOTE_ADDR": "10.1.2.3", "HTTP_X_FORWARDED_FOR": "216.160.83.56, 81.2.69.142, 10.0.0.9"}
    assert _country(browser, project, "proxied", **through_proxy, HTTP_OPENPANEL_CLIENT_IP="216.160.83.56") == "GB"
    # A server with the secret forwards its user's address.
    server = client_for(ip=None)
    assert _country(server, project, "server", REMOTE_ADDR="81.2.69.142", **spoofed) == "US"


def test_a_browser_cannot_trip_another_callers_duplicate_guard(client_for, project, settings):
    settings.TRUSTED_PROXIES = []
    browser = client_for(secret=False, ip=None, HTTP_ORIGIN="https://app.example.com")
    body = track("click")
    assert browser.post("/track", body, format="json", REMOTE_ADDR="81.2.69.142").status_code == 200
    # Another caller, claiming the first one's address, is not taken for a repeat of its request.
    other = browser.post(
        "/track", body, format="json", REMOTE_ADDR="216.160.83.56", HTTP_X_FORWARDED_FOR="81.2.69.142"
    )
    assert "duplicate" not in other.json()


# --- project admins (the admin's purpose) -----------------------------------------------------------
@pytest.fixture
def two_admins(db, project):
    from projects.services import create_project

    other, _ = create_project("Other shop", origins=["https://other.example"])
    users = get_user_model().objects
    alice = users.create_user("alice", password="pw-alice-long-1", is_staff=True)
    bob = users.create_user("bob", password="pw-bob-long-1", is_staff=True)
    project.members.add(alice)
    other.members.add(bob)
    return {"alice": (alice, project), "bob": (bob, other)}


def test_each_project_admin_sees_and_changes_only_their_project(client, two_admins, api):
    from ingest.models import RejectedSample

    alice, mine = two_admins["alice"]
    _, theirs = two_admins["bob"]
    api.post("/track/batch", {"events": [{"type": "track", "payload": {"name": ""}}]}, format="json")
    client.force_login(alice)
    listing = client.get("/admin/projects/project/")
    assert listing.status_code == 200
    assert [p.pk for p in listing.context["cl"].result_list] == [mine.pk]

    page = client.get(f"/admin/projects/project/{mine.pk}/change/")
    assert page.status_code == 200 and "rejected rows, last 7 days" in page.content.decode().lower()
    assert client.get(f"/admin/projects/project/{theirs.pk}/change/").status_code == 302  # "does not exist"
    form = {"name": "Renamed", "allowed_origins": "https://x.example", "backfill_days": "7"}
    assert client.post(f"/admin/projects/project/{theirs.pk}/change/", form).status_code == 302
    theirs.refresh_from_db()
    assert theirs.name == "Other shop"
    assert client.post(f"/admin/projects/project/{mine.pk}/change/", form).status_code == 302
    mine.refresh_from_db()
    assert mine.name == "Renamed" and mine.backfill_days == 7
    assert mine.active and mine.members.filter(pk=alice.pk).exists()  # not theirs to change

    samples = client.get("/admin/ingest/rejectedsample/")
    assert samples.status_code == 200 and samples.context["cl"].result_count == 1
    RejectedSample.objects.update(project=theirs)
    assert client.get("/admin/ingest/rejectedsample/").context["cl"].result_count == 0
    sample = RejectedSample.objects.first()
    assert client.get(f"/admin/ingest/rejectedsample/{sample.pk}/change/").status_code == 302
    salts = client.get("/admin/projects/salt/").context["cl"].result_list
    assert {salt.project_id for salt in salts} == {mine.pk}


def test_project_admins_cannot_raise_their_quota_or_add_members(client, two_admins):
    alice, mine = two_admins["alice"]
    bob, _ = two_admins["bob"]
    client.force_login(alice)
    form = {
        "name": mine.name, "allowed_origins": "", "backfill_days": "5", "active": "",
        "quota_events_per_minute": "99999999", "members": [alice.pk, bob.pk],
    }  # fmt: skip
    client.post(f"/admin/projects/project/{mine.pk}/change/", form)
    mine.refresh_from_db()
    assert mine.active and mine.quota_events_per_minute is None
    assert list(mine.members.all()) == [alice]


def test_a_superuser_sees_every_project_and_edits_members_quotas_and_the_active_flag(admin_client, two_admins):
    alice, mine = two_admins["alice"]
    listing = admin_client.get("/admin/projects/project/")
    assert {two_admins["alice"][1].pk, two_admins["bob"][1].pk} <= {p.pk for p in listing.context["cl"].result_list}
    form = {
        "name": mine.name, "allowed_origins": "", "backfill_days": "5", "active": "",
        "quota_events_per_minute": "1200", "quota_burst": "4000", "members": [alice.pk],
    }  # fmt: skip
    assert admin_client.post(f"/admin/projects/project/{mine.pk}/change/", form).status_code == 302
    mine.refresh_from_db()
    assert (mine.active, mine.quota_events_per_minute, mine.quota_burst) == (False, 1200, 4000)
    disabled = admin_client.get("/admin/projects/project/?active__exact=0").context["cl"].result_list
    assert [p.pk for p in disabled] == [mine.pk]  # shown, and found with the filter


def test_a_staff_user_without_projects_sees_none(client, project):
    from django.contrib.auth.models import Permission

    staff = get_user_model().objects.create_user("nobody", password="pw-nobody-long-1", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["projects", "ingest"]))
    client.force_login(staff)
    for url in ("/admin/projects/project/", f"/admin/projects/project/{project.pk}/change/",
                "/admin/ingest/rejectedsample/", "/admin/projects/salt/"):  # fmt: skip
        assert client.get(url).status_code == 403, url
    assert "Projects" not in client.get("/admin/").content.decode()


# --- replay_events writes its rejected file safely ---------------------------------------------------
def test_replay_does_not_follow_a_symlink_planted_as_its_rejected_file(project, tmp_path):
    from django.core.management import call_command

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    source = tmp_path / "buffer.ndjson"
    source.write_text('{"type":"track","payload":{"name":""}}\n')
    planted = Path(f"{source}.rejected.ndjson")
    planted.symlink_to(victim)
    call_command("replay_events", str(source), "--project", str(project.client_id))
    assert victim.read_text() == "precious"
    assert not planted.is_symlink() and '"line":1' in planted.read_text()
