"""How a change merges into a profile or group document (contract §7). Pure; no Redis or ClickHouse."""
import pytest

from ingest.profiles import merge

CTX = {
    "project_id": "p", "received_ms": 0, "backfill_days": 5, "ip": "", "sdk_name": "", "sdk_version": "",
    "geo": {"country": "GB", "city": "London", "region": "", "latitude": None, "longitude": None},
    "agent": {"os": "iOS", "os_version": "17", "browser": "", "browser_version": "", "device": "mobile",
              "brand": "Apple", "model": "iPhone"},
}  # fmt: skip


def _profile(**properties):
    doc = merge.new_document("profile", "p", "u1", now_ms=1_000)
    doc["properties"].update(properties)
    return doc


@pytest.mark.parametrize(
    "before, kind, value, after",
    [
        (None, "increment", 1, "1"),
        ("41", "increment", 1, "42"),
        ("10", "decrement", 3, "7"),
        ("1.5", "increment", 1, "2.5"),
        ("2", "increment", 0.5, "2.5"),
        ("-4", "decrement", 1, "-5"),
        ("not a number", "increment", 2, "2"),  # a text property restarts from zero
        ("", "increment", 1, "1"),
    ],
)
def test_increments(before, kind, value, after):
    doc = _profile(**({"n": before} if before is not None else {}))
    merge.apply(doc, CTX, {"type": kind, "profile_id": "u1", "property": "n", "value": value})
    assert doc["properties"]["n"] == after


def test_identify_merges_nonempty_fields_and_the_request_context():
    doc = _profile(plan="free")
    doc["email"] = "old@example.com"
    change = {"type": "identify", "profile_id": "u1", "first_name": "Ada", "email": "",
              "properties": {"plan": "pro", "empty": ""}}  # fmt: skip
    merge.apply(doc, CTX, change)
    assert doc["first_name"] == "Ada" and doc["email"] == "old@example.com"  # empty never overwrites
    assert doc["properties"] == {"plan": "pro", "country": "GB", "city": "London", "os": "iOS", "os_version": "17",
                                 "device": "mobile", "brand": "Apple", "model": "iPhone"}  # fmt: skip


def test_identify_from_a_server_keeps_no_device_type():
    server = {**CTX, "agent": {**CTX["agent"], "device": "server", "os": ""}}
    doc = _profile()
    merge.apply(doc, server, {"type": "identify", "profile_id": "u1"})
    assert "device" not in doc["properties"] and doc["properties"]["country"] == "GB"


def test_groups_are_added_once_in_order():
    doc = _profile()
    merge.apply(doc, CTX, {"type": "assign_group", "profile_id": "u1", "group_ids": ["a", "b"]})
    merge.apply(doc, CTX, {"type": "assign_group", "profile_id": "u1", "group_ids": ["b", "c", "a"]})
    assert doc["groups"] == ["a", "b", "c"]


def test_a_group_document():
    doc = merge.new_document("group", "p", "acme", now_ms=0)
    merge.apply(doc, CTX, {"type": "group", "id": "acme", "group_type": "company", "name": "Acme",
                           "properties": {"plan": "ent"}})  # fmt: skip
    assert (doc["type"], doc["name"], doc["properties"]) == ("company", "Acme", {"plan": "ent"})
    assert merge.target({"type": "group", "id": "acme"}) == ("group", "acme")
    assert merge.target({"type": "increment", "profile_id": "u1"}) == ("profile", "u1")


def test_a_document_round_trips_through_its_row():
    doc = _profile(plan="pro")
    doc["version"] = 3
    row = merge.row_of("profile", doc, now_ms=5_000)
    assert row["properties.key"] == ["plan"] and row["version"] == 3 and row["updated_at"] == 5
