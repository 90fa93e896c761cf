"""Spec §2: who may send events. Authentication runs before anything looks at the body."""
import uuid

import pytest
from rest_framework.test import APIClient

from projects.services import rotate_secret
from tests.support.events import track

pytestmark = pytest.mark.django_db


def post(client, body=None, path="/track", **extra):
    return client.post(path, body if body is not None else track("hello"), format="json", **extra)


def test_missing_client_id_is_401():
    response = post(APIClient())
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert "client id" in response.json()["message"]


def test_client_id_that_is_not_a_uuid_is_401():
    response = post(APIClient(), HTTP_OPENPANEL_CLIENT_ID="not-a-uuid")
    assert response.status_code == 401
    assert "UUID" in response.json()["message"]


def test_unknown_client_id_is_401():
    response = post(APIClient(), HTTP_OPENPANEL_CLIENT_ID=str(uuid.uuid4()), HTTP_OPENPANEL_CLIENT_SECRET="x")
    assert response.status_code == 401
    assert "unknown" in response.json()["message"]


def test_wrong_secret_is_401(project):
    response = post(APIClient(), HTTP_OPENPANEL_CLIENT_ID=str(project.client_id), HTTP_OPENPANEL_CLIENT_SECRET="sec_nope")
    assert response.status_code == 401
    assert "secret" in response.json()["message"]


def test_right_secret_is_accepted(api):
    assert post(api).status_code == 200


def test_rotated_secret_replaces_the_old_one(project, client_for):
    old = client_for()
    project.secret = rotate_secret(project)
    assert post(old).status_code == 401
    assert post(client_for()).status_code == 200


@pytest.mark.parametrize(
    "origin",
    ["https://app.example.com", "https://www.app.example.com/", "http://app.example.com", "https://eu.example.org"],
)
def test_allowed_origin_without_secret_is_accepted(client_for, origin):
    assert post(client_for(secret=False), HTTP_ORIGIN=origin).status_code == 200


@pytest.mark.parametrize("origin", [None, "", "https://evil.example.net", "https://app.example.com.evil.io"])
def test_other_origin_without_secret_is_401(client_for, origin):
    extra = {"HTTP_ORIGIN": origin} if origin is not None else {}
    response = post(client_for(secret=False), **extra)
    assert response.status_code == 401
    assert "Origin" in response.json()["message"]


def test_star_origin_accepts_any_origin_but_not_none(db):
    from projects.services import create_project

    project, _ = create_project(f"Web {uuid.uuid4().hex[:6]}", origins=["*"], with_secret=False)
    client = APIClient()
    client.credentials(HTTP_OPENPANEL_CLIENT_ID=str(project.client_id))
    assert post(client, HTTP_ORIGIN="https://anything.test").status_code == 200
    assert post(client).status_code == 401


def test_ignore_cors_and_secret_accepts_the_client_id_alone(project):
    project.ignore_cors_and_secret = True
    project.save()
    client = APIClient()
    client.credentials(HTTP_OPENPANEL_CLIENT_ID=str(project.client_id), HTTP_OPENPANEL_CLIENT_SECRET="whatever")
    assert post(client).status_code == 200


def test_credentials_in_the_body_of_a_single_event(project):
    body = {**track("hello"), "clientId": str(project.client_id), "clientSecret": project.secret}
    assert post(APIClient(), body).status_code == 200


def test_body_errors_come_only_after_authentication(project):
    bad_body = b"{not json"
    for client_headers, expected in (({}, 401), ({"HTTP_OPENPANEL_CLIENT_ID": str(project.client_id)}, 401)):
        response = APIClient().generic("POST", "/track", bad_body, content_type="application/json", **client_headers)
        assert response.status_code == expected
        assert response.json()["error"] == "unauthorized"
    authed = APIClient().generic(
        "POST",
        "/track/batch",
        bad_body,
        content_type="application/json",
        HTTP_OPENPANEL_CLIENT_ID=str(project.client_id),
        HTTP_OPENPANEL_CLIENT_SECRET=project.secret,
    )
    assert authed.status_code == 400
    assert authed.json()["error"] == "invalid_json"


def test_unauthenticated_oversized_body_is_401_not_413(project):
    response = APIClient().generic(
        "POST", "/track/batch", b"x" * (11 * 1024 * 1024), content_type="application/json"
    )
    assert response.status_code == 401


def test_a_header_client_id_with_the_secret_in_the_body(project):
    """Finding 13 (contract §2 r2): a body `clientSecret` was ignored when the client id came in a header."""
    client = APIClient()
    client.credentials(HTTP_OPENPANEL_CLIENT_ID=str(project.client_id))
    assert post(client, {**track("hello"), "clientSecret": project.secret}).status_code == 200
    wrong = post(client, {**track("hello"), "clientSecret": "sec_wrong"})
    assert wrong.status_code == 401 and "secret" in wrong.json()["message"]
    assert post(client).status_code == 401  # neither a secret nor an allowed Origin
    # The body is looked at only on /track (contract §2); a batch sends its secret in the header.
    batch = client.post("/track/batch", {"events": [track("x")], "clientSecret": project.secret}, format="json")
    assert batch.status_code == 401


# --- issue 10: authentication first, cheaply (contract §2 r2) ---------------------------------------
def _gzip_json(size: int) -> bytes:
    """`size` bytes of JSON (one event with a long property), gzipped: about 35 KB for 10 MiB."""
    import gzip

    filler = b"a" * (size - 80)
    return gzip.compress(b'{"type":"track","payload":{"name":"x","properties":{"f":"' + filler + b'"}}}')


def test_no_header_client_id_and_a_huge_gzip_body_is_401_without_reading_it(project):
    body = _gzip_json(10 * 1024 * 1024)
    assert len(body) < 64 * 1024  # the compressed body itself is small: only its inside is large
    response = APIClient().generic(
        "POST", "/track", body, content_type="application/json", HTTP_CONTENT_ENCODING="gzip"
    )
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_body_credentials_are_read_only_from_a_small_json_body(project):
    credentials = {"clientId": str(project.client_id), "clientSecret": project.secret}
    small = {**track("hello"), **credentials}
    assert post(APIClient(), small).status_code == 200
    batch = {"type": "batch", "payload": [track("hello", blob="x" * 1000) for _ in range(70)]}  # over 64 KiB
    response = post(APIClient(), {**batch, **credentials})
    assert response.status_code == 401 and "64 KiB" in response.json()["message"]
    headers = {"HTTP_OPENPANEL_CLIENT_ID": str(project.client_id), "HTTP_OPENPANEL_CLIENT_SECRET": project.secret}
    assert post(APIClient(), batch, **headers).json()["accepted"] == 70


@pytest.mark.parametrize(
    "body, encoding",
    [(b"\x1f\x8b\x08corrupt", "gzip"), (b"{not json", ""), (b"[1, 2]", ""), (b"{}", "br")],
)
def test_no_header_client_id_and_an_unreadable_body_is_401(body, encoding):
    extra = {"HTTP_CONTENT_ENCODING": encoding} if encoding else {}
    response = APIClient().generic("POST", "/track", body, content_type="application/json", **extra)
    assert response.status_code == 401, response.content


# --- issue 10: one message for every refusal that would tell whether a client id exists -------------
def test_unknown_id_wrong_secret_wrong_origin_and_disabled_project_get_the_same_401(project, client_for):
    answers = [
        post(APIClient(), HTTP_OPENPANEL_CLIENT_ID=str(uuid.uuid4()), HTTP_OPENPANEL_CLIENT_SECRET="x"),
        post(APIClient(), HTTP_OPENPANEL_CLIENT_ID=str(uuid.uuid4()), HTTP_ORIGIN="https://app.example.com"),
        post(APIClient(), HTTP_OPENPANEL_CLIENT_ID=str(project.client_id), HTTP_OPENPANEL_CLIENT_SECRET="sec_nope"),
        post(client_for(secret=False), HTTP_ORIGIN="https://evil.example.net"),
    ]
    project.active = False
    project.save()
    answers.append(post(client_for()))
    assert {response.status_code for response in answers} == {401}
    assert len({response.content for response in answers}) == 1


def test_a_disabled_project_is_refused_and_enabled_again(project, client_for):
    from projects.services import update_project

    update_project(project, {"active": False})
    assert post(client_for()).status_code == 401
    update_project(project, {"active": True})
    assert post(client_for()).status_code == 200


def test_unknown_client_ids_are_remembered_instead_of_asked_each_time(django_assert_num_queries):
    unknown = str(uuid.uuid4())
    client = APIClient()
    assert post(client, HTTP_OPENPANEL_CLIENT_ID=unknown).status_code == 401
    with django_assert_num_queries(0):
        for _ in range(5):
            assert post(client, HTTP_OPENPANEL_CLIENT_ID=unknown).status_code == 401


# --- issue 10: wildcard origins match whole host labels ---------------------------------------------
@pytest.mark.parametrize(
    "origin, allowed",
    [
        ("https://eu.example.org", True),
        ("https://a.b.example.org", True),
        ("http://eu.example.org:8080", False),
        ("https://example.org", False),
        ("https://evil.com/.example.org", False),
        ("https://evil.com/x.example.org", False),
        ("https://evil.com?.example.org", False),
        ("https://evil.com#.example.org", False),
        ("https://evilexample.org", False),
        ("https://eu.example.org.evil.com", False),
        ("https://user@eu.example.org", False),
    ],
)
def test_wildcard_origins_match_host_labels(client_for, origin, allowed):
    response = post(client_for(secret=False), HTTP_ORIGIN=origin)
    assert response.status_code == (200 if allowed else 401), origin
