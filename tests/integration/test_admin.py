"""Spec §9: the admin. Staff only; secrets shown once; rotations; rejected-row samples; RQ pages."""
import re
from datetime import UTC, datetime

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model

from ingest.models import RejectedSample
from projects.models import Project, Salt
from tests.support.admins import project_admin
from tests.support.events import track

pytestmark = pytest.mark.django_db

BAD = {"type": "track", "payload": {"name": ""}}


def admin_pages(project) -> list[str]:
    salt = project.salts.first()
    return [
        "/admin/",
        "/admin/projects/project/",
        "/admin/projects/project/add/",
        f"/admin/projects/project/{project.pk}/change/",
        "/admin/projects/salt/",
        f"/admin/projects/salt/{salt.pk}/change/",
        "/admin/ingest/rejectedsample/",
        "/admin/django_rq/dashboard/",
        "/admin/django-rq/",
    ]


def test_pages_render_for_staff(admin_client, project):
    for url in admin_pages(project):
        response = admin_client.get(url)
        assert response.status_code == 200, url


def test_anonymous_and_non_staff_users_are_refused(client, project):
    pages = admin_pages(project)
    for url in pages:
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url
    user = get_user_model().objects.create_user("visitor", password="pw-visitor-1")
    client.force_login(user)
    for url in pages[1:]:
        assert client.get(url).status_code in (302, 403), url


def test_admin_index_links_the_queue_pages(admin_client):
    assert 'href="/admin/django_rq/dashboard/"' in admin_client.get("/admin/").content.decode()


def create_in_admin(admin_client, **fields) -> tuple[Project, str]:
    form = {
        "name": "Shop",
        "allowed_origins": "https://shop.example",
        "backfill_days": "14",
        "with_secret": "on",
        **fields,
    }
    response = admin_client.post("/admin/projects/project/add/", form)
    assert response.status_code == 200, response.content[:500]
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    client_id = re.search(r'class="spool-client-id">([^<]+)<', page).group(1)
    secret = re.search(r'class="spool-client-secret">([^<]+)<', page)
    return Project.objects.get(client_id=client_id), secret.group(1) if secret else ""


def send(client, project, secret="", origin=""):
    headers = {"HTTP_OPENPANEL_CLIENT_ID": str(project.client_id)}
    if secret:
        headers["HTTP_OPENPANEL_CLIENT_SECRET"] = secret
    if origin:
        headers["HTTP_ORIGIN"] = origin
    return client.post("/track", track("hello"), content_type="application/json", **headers)


def test_create_shows_the_secret_once_and_stores_only_a_hash(admin_client, client):
    project, secret = create_in_admin(admin_client)
    assert secret.startswith("sec_")
    assert project.backfill_days == 14 and project.origins == ["https://shop.example"]
    assert project.salts.count() == 2
    assert secret not in project.secret_hash
    assert send(client, project, secret).status_code == 200
    page = admin_client.get(f"/admin/projects/project/{project.pk}/change/").content.decode()
    assert secret not in page and "stored as a hash" in page


def test_create_without_secret_relies_on_origins(admin_client, client):
    project, secret = create_in_admin(admin_client, with_secret="", name="Browser app")
    assert secret == "" and not project.has_secret
    assert send(client, project, origin="https://shop.example").status_code == 200
    assert send(client, project, origin="https://evil.example").status_code == 401


def test_rotate_secret_asks_first_then_shows_the_new_secret(admin_client, client, project):
    action = {"action": "rotate_secret", "_selected_action": [project.pk]}
    confirm = admin_client.post("/admin/projects/project/", {**action, "index": "0"})
    assert confirm.status_code == 200 and b"Yes, rotate" in confirm.content
    assert send(client, project, project.secret).status_code == 200  # nothing changed yet

    response = admin_client.post("/admin/projects/project/", {**action, "confirm": "yes"})
    assert response.status_code == 200
    new_secret = re.search(r'class="spool-client-secret">([^<]+)<', response.content.decode()).group(1)
    assert new_secret != project.secret
    assert send(client, project, project.secret).status_code == 401
    assert send(client, project, new_secret).status_code == 200
    assert LogEntry.objects.filter(object_id=project.pk, change_message="Rotated the client secret.").exists()


def test_rotate_salts_from_projects_and_from_salts(admin_client, project):
    before = set(project.salts.values_list("salt", flat=True))
    admin_client.post("/admin/projects/project/", {"action": "rotate_salts", "_selected_action": [project.pk], "index": "0"})
    after = set(project.salts.values_list("salt", flat=True))
    assert len(after) == 2 and len(after - before) == 1
    salt = Salt.objects.filter(project=project).first()
    admin_client.post("/admin/projects/salt/", {"action": "rotate_now", "_selected_action": [salt.pk], "index": "0"})
    assert len(set(project.salts.values_list("salt", flat=True)) - after) == 1


def test_projects_cannot_be_deleted_from_the_admin(admin_client, project):
    assert admin_client.post(f"/admin/projects/project/{project.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Project.objects.filter(pk=project.pk).exists()


def test_salts_are_read_only_and_not_shown(admin_client, project):
    salt = project.salts.first()
    page = admin_client.get(f"/admin/projects/salt/{salt.pk}/change/").content.decode()
    assert salt.salt not in page
    assert admin_client.get("/admin/projects/salt/add/").status_code == 403
    assert admin_client.post(f"/admin/projects/salt/{salt.pk}/delete/", {"post": "yes"}).status_code == 403


def test_edit_origins_backfill_and_flag(admin_client, client, project):
    form = {
        "name": project.name,
        "allowed_origins": "https://new.example\n*.other.example",
        "backfill_days": "30",
        "ignore_cors_and_secret": "",
        "active": "on",
    }
    response = admin_client.post(f"/admin/projects/project/{project.pk}/change/", form)
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.backfill_days == 30 and project.origins == ["https://new.example", "*.other.example"]
    assert send(client, project, origin="https://a.other.example").status_code == 200
    assert send(client, project).status_code == 401

    admin_client.post(f"/admin/projects/project/{project.pk}/change/", {**form, "ignore_cors_and_secret": "on"})
    assert send(client, project).status_code == 200
    bad = admin_client.post(f"/admin/projects/project/{project.pk}/change/", {**form, "backfill_days": "91"})
    assert bad.status_code == 200 and b"errornote" in bad.content


def test_rejected_samples_list_filters_searches_and_formats(admin_client, api, project):
    api.post("/track/batch", {"events": [BAD, {"type": "nope", "payload": {"x": [1, 2]}}]}, format="json")
    listing = admin_client.get("/admin/ingest/rejectedsample/")  # opening the list moves the samples
    assert listing.status_code == 200
    assert RejectedSample.objects.filter(project_id=project.id).count() == 2
    page = listing.content.decode()
    assert "payload.name: this field may not be blank" in page and "unknown event type" in page

    day = RejectedSample.objects.first().received_at.date().isoformat()
    for query, expected in [
        (f"project__id__exact={project.id}", 2),
        ("reason__exact=validation", 2),
        ("reason__exact=internal", 0),
        ("code__exact=invalid_field", 1),
        ("code__exact=unsupported_type", 1),
        ("code__exact=internal_error", 0),
        (f"day={day}", 2),
        ("day=2001-01-01", 0),
        ("q=unknown+event", 1),
    ]:
        response = admin_client.get(f"/admin/ingest/rejectedsample/?{query}")
        assert response.status_code == 200
        assert response.context["cl"].result_count == expected, query

    sample = RejectedSample.objects.get(error__contains="unknown event")
    detail = admin_client.get(f"/admin/ingest/rejectedsample/{sample.pk}/change/").content.decode()
    assert "&quot;type&quot;: &quot;nope&quot;" in detail and "<pre" in detail  # indented JSON
    assert admin_client.get("/admin/ingest/rejectedsample/add/").status_code == 403


def test_project_page_shows_the_last_7_days_of_counts(admin_client, api, project):
    api.post("/track/batch", {"events": [BAD, BAD, {"type": "nope"}]}, format="json")
    page = admin_client.get(f"/admin/projects/project/{project.pk}/change/").content.decode()
    table = page[page.index("day (UTC)") :]
    today = datetime.now(UTC).date().isoformat()
    link = f'href="/admin/ingest/rejectedsample/?project__id__exact={project.id}&amp;day={today}&amp;code__exact='
    by_code = f'<a {link}invalid_field">invalid_field</a> 2, <a {link}unsupported_type">unsupported_type</a> 1'
    assert f"<td>{by_code}</td><td>3</td>" in table
    assert table[: table.index("</table>")].count("<tr>") == 7  # one row a day


@pytest.mark.parametrize("depth", [3000, 100_000])
def test_a_deeply_nested_sample_shows_as_it_was_sent(admin_client, api, project, depth):
    """Finding 13: indenting a sample nested deeper than json's recursion limit answered 500."""
    nested = "[" * depth + "]" * depth
    response = api.generic("POST", "/track/batch", f'{{"type": "track", "payload": {nested}}}\n', content_type="application/x-ndjson")
    assert response.status_code == 202 and response.json()["rejected"][0]["code"] == "too_deep"
    listing = admin_client.get("/admin/ingest/rejectedsample/?code__exact=too_deep")
    assert listing.status_code == 200 and listing.context["cl"].result_count == 1
    sample = RejectedSample.objects.get(project_id=project.id)
    detail = admin_client.get(f"/admin/ingest/rejectedsample/{sample.pk}/change/")
    assert detail.status_code == 200
    assert "[[[[" in detail.content.decode()


def test_the_project_page_labels_its_fields_in_plain_words(admin_client, project):
    # Issue 18 §4: "Ignore cors and secret" was the model's field name; a project admin, who sees the
    # operator's fields read-only, reads the same words.
    from projects.admin import LABELS

    for client in (admin_client, project_admin("labels", projects=[project])):
        page = client.get(f"/admin/projects/project/{project.pk}/change/").content.decode()
        assert "Ignore cors and secret" not in page and "Quota events per minute" not in page
        for label in LABELS.values():
            assert label in page, label
