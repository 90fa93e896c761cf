"""Issue 9, findings 1 and 13 (contract §3 r2): a blank profile id is a bad row where one is required
and "no profile id" where it is optional; it never reaches a queue, a key or a column."""
import pytest

from tests.support import stored
from tests.support.events import track
from tests.support.worker import drain

pytestmark = pytest.mark.django_db

# Nothing visible once trimmed: spaces, tabs, zero-width and other format characters, controls.
BLANKS = ["", "   ", "\t\n", "\u200b", "\u200b\u200c\u200d\ufeff", " \u00a0\u3000 ", "\x00", "\x1f\x7f\x85", "\u2060\u3164"]


def single(api, kind, payload):
    return api.post("/track", {"type": kind, "payload": payload}, format="json")


def batch(api, *items):
    response = api.post("/track/batch", {"events": list(items)}, format="json")
    assert response.status_code == 202, response.content
    return response.json()


def identify(profile_id, **fields):
    return {"type": "identify", "payload": {"profileId": profile_id, **fields}}


@pytest.mark.parametrize("blank", BLANKS)
@pytest.mark.parametrize(
    "kind, payload",
    [
        ("identify", {"firstName": "Ada"}),
        ("increment", {"property": "visits"}),
        ("decrement", {"property": "visits", "value": 2}),
    ],
)
def test_a_blank_required_profile_id_is_a_bad_row(api, project, kind, payload, blank):
    response = single(api, kind, {**payload, "profileId": blank})
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "validation"
    assert response.json()["message"].startswith("payload.profileId: ")

    body = batch(api, {"type": kind, "payload": {**payload, "profileId": blank}}, identify("real", firstName="R"))
    assert body["accepted"] == 1
    [row] = body["rejected"]
    assert (row["index"], row["reason"], row["code"]) == (0, "validation", "invalid_profile_id")


@pytest.mark.parametrize("blank", BLANKS)
def test_a_blank_profile_id_in_identify_on_a_track_event_is_a_bad_row(api, project, blank):
    event = track("signed_in", __identify={"profileId": blank, "firstName": "Ada"})
    body = batch(api, event, track("other"))
    assert body["accepted"] == 1
    [row] = body["rejected"]
    assert row["code"] == "invalid_profile_id"
    assert row["error"].startswith("properties.__identify.profileId: ")


def test_a_blank_optional_profile_id_means_none(api, project):
    """A track's profileId and assign_group's are optional: blank is absent (the device id is used)."""
    answers = [
        single(api, "track", {"name": "blank_track", "profileId": blank, "properties": {"__deviceId": f"dev-{i}"}})
        for i, blank in enumerate(BLANKS)
    ]
    assert [answer.status_code for answer in answers] == [200] * len(BLANKS)
    group = single(api, "assign_group", {"groupIds": ["g1"], "profileId": "\u200b "})
    assert group.status_code == 200, group.content
    drain()
    rows = stored.events(project.id, "name = 'blank_track'")
    assert sorted(row["profile_id"] for row in rows) == sorted(f"dev-{i}" for i in range(len(BLANKS)))
    device = group.json()["deviceId"]
    assert stored.profile(project.id, device)["groups"] == ["g1"]


def test_a_blank_profile_id_never_stops_the_profiles_of_other_projects(api, project, client_for):
    """The incident of finding 1: one blank identify used to block every project's profile changes."""
    for blank in BLANKS:
        single(api, "identify", {"profileId": blank})
        batch(api, identify(blank), track("t", __identify={"profileId": blank, "email": "a@example.com"}))
    assert single(api, "identify", {"profileId": "after", "firstName": "After"}).status_code == 200
    drain()
    assert stored.profile(project.id, "after")["first_name"] == "After"


@pytest.mark.parametrize("profile_id", ["None", "null", "0", "undefined"])
def test_a_blank_id_does_not_share_a_key_with_a_literal_id(api, project, profile_id):
    """Finding 13: blank ids and the literal id "None" shared a Redis key, so an increment of a blank
    id was answered as if it were the profile "None" (or "unknown profile 'None'")."""
    assert single(api, "identify", {"profileId": profile_id, "firstName": "Literal"}).status_code == 200
    response = single(api, "increment", {"profileId": "", "property": "visits"})
    assert response.status_code == 400
    assert "None" not in response.json()["message"]
    assert single(api, "increment", {"profileId": profile_id, "property": "visits"}).status_code == 200
    drain()
    assert stored.profile(project.id, profile_id)["properties"]["visits"] == "1"


def test_profile_ids_keep_their_visible_text(api, project):
    """Trimming takes only the outer whitespace; an id with visible characters is kept as sent."""
    for profile_id in [" user-1 ", "ü\u200bser", 42, 4.5, "🙂"]:
        assert single(api, "identify", {"profileId": profile_id, "firstName": "X"}).status_code == 200
    drain()
    for stored_id in ["user-1", "ü\u200bser", "42", "4.5", "🙂"]:
        assert stored.profile(project.id, stored_id) is not None, stored_id


@pytest.mark.parametrize("profile_id", ["ab\x00c", "ab\x85c", "tab\tinside", 10**30 * 1.0, True, ["a"]])
def test_profile_ids_with_control_characters_or_of_the_wrong_kind_are_bad_rows(api, project, profile_id):
    body = batch(api, identify(profile_id), track("e", __identify={"profileId": profile_id}))
    assert [row["code"] for row in body["rejected"]] == ["invalid_profile_id", "invalid_profile_id"]
    response = single(api, "track", {"name": "e", "profileId": profile_id})
    assert response.status_code == 400
