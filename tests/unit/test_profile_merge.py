"""How a change merges into a profile or group document (contract §7). Pure; no Redis or ClickHouse."""
import pytest

from ingest.profiles import merge

CTX = {
    "project_id": "p", "received_ms": 0, "backfill_days": 5, "ip": "", "sdk_name": "", "sdk_version": "",
    "geo": {"country": "GB", "city": "London", "region": "", "latitude": None, "longitude": None},
    "agent": {"os": "iOS", "os_version": "17", "browser": "", "browser_version": "", "device": "mobile",
              "brand": "Apple", "model": "iPhone"},
}  # fmt: skip


WIDE = merge.Limits(properties=1000, groups=100)


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
    doc, refused = merge.apply(doc, CTX, {"type": kind, "profile_id": "u1", "property": "n", "value": value}, WIDE)
    assert doc["properties"]["n"] == after and refused == 0


def test_identify_merges_nonempty_fields_and_the_request_context():
    doc = _profile(plan="free")
    doc["email"] = "old@example.com"
    change = {"type": "identify", "profile_id": "u1", "first_name": "Ada", "email": "",
              "properties": {"plan": "pro", "empty": ""}}  # fmt: skip
    doc, _ = merge.apply(doc, CTX, change, WIDE)
    assert doc["first_name"] == "Ada" and doc["email"] == "old@example.com"  # empty never overwrites
    assert doc["properties"] == {"plan": "pro", "country": "GB", "city": "London", "os": "iOS", "os_version": "17",
                                 "device": "mobile", "brand": "Apple", "model": "iPhone"}  # fmt: skip


def test_identify_from_a_server_keeps_no_device_type():
    server = {**CTX, "agent": {**CTX["agent"], "device": "server", "os": ""}}
    doc = _profile()
    doc, _ = merge.apply(doc, server, {"type": "identify", "profile_id": "u1"}, WIDE)
    assert "device" not in doc["properties"] and doc["properties"]["country"] == "GB"


def test_groups_are_added_once_in_order():
    doc = _profile()
    doc, _ = merge.apply(doc, CTX, {"type": "assign_group", "profile_id": "u1", "group_ids": ["a", "b"]}, WIDE)
    doc, _ = merge.apply(doc, CTX, {"type": "assign_group", "profile_id": "u1", "group_ids": ["b", "c", "a"]}, WIDE)
    assert doc["groups"] == ["a", "b", "c"]


def test_a_group_document():
    doc = merge.new_document("group", "p", "acme", now_ms=0)
    doc, _ = merge.apply(doc, CTX, {"type": "group", "id": "acme", "group_type": "company", "name": "Acme",
                                    "properties": {"plan": "ent"}}, WIDE)  # fmt: skip
    assert (doc["type"], doc["name"], doc["properties"]) == ("company", "Acme", {"plan": "ent"})
    assert merge.target({"type": "group", "id": "acme"}) == ("group", "acme")
    assert merge.target({"type": "increment", "profile_id": "u1"}) == ("profile", "u1")


def test_a_document_round_trips_through_its_row():
    doc = _profile(plan="pro")
    doc["version"] = 3
    row = merge.row_of("profile", doc, now_ms=5_000)
    assert row["properties.key"] == ["plan"] and row["version"] == 3 and row["updated_at"] == 5


def test_a_change_leaves_the_document_it_was_given_as_it_was():
    doc = _profile(n="1")
    merged, _ = merge.apply(doc, CTX, {"type": "increment", "profile_id": "u1", "property": "n", "value": 1}, WIDE)
    assert (doc["properties"]["n"], merged["properties"]["n"]) == ("1", "2")


TIGHT = merge.Limits(properties=3, groups=2)


@pytest.mark.parametrize(
    "change, properties, groups, refused",
    [
        # New keys are added while there is room; keys the document has are always updated.
        ({"type": "identify", "profile_id": "u1", "properties": {"a": "2", "c": "3", "d": "4", "e": "5"}},
         {"a": "2", "b": "1", "c": "3"}, [], 2),
        ({"type": "increment", "profile_id": "u1", "property": "a", "value": 1}, {"a": "2", "b": "1"}, [], 0),
        ({"type": "increment", "profile_id": "u1", "property": "z", "value": 1}, {"a": "1", "b": "1", "z": "1"}, [], 0),
        ({"type": "assign_group", "profile_id": "u1", "group_ids": ["g1", "g2", "g3", "g1"]}, {"a": "1", "b": "1"},
         ["g1", "g2"], 1),
    ],
)
def test_limits_apply_up_to_the_limit_and_count_the_rest(change, properties, groups, refused):
    doc = _profile(a="1", b="1")
    merged, dropped = merge.apply(doc, {**CTX, "geo": {}, "agent": {}}, change, TIGHT)
    assert (merged["properties"], merged["groups"], dropped) == (properties, groups, refused)


def test_a_full_document_takes_no_new_key_but_keeps_its_own():
    doc = _profile(a="1", b="1", c="1")
    change = {"type": "increment", "profile_id": "u1", "property": "d", "value": 1}
    merged, dropped = merge.apply(doc, CTX, change, TIGHT)
    assert (merged["properties"], dropped) == ({"a": "1", "b": "1", "c": "1"}, 1)
    merged, dropped = merge.apply(doc, CTX, {**change, "property": "c"}, TIGHT)
    assert (merged["properties"]["c"], dropped) == ("2", 0)


def test_a_group_document_has_the_property_limit_too():
    doc = merge.new_document("group", "p", "acme", now_ms=0)
    change = {"type": "group", "id": "acme", "group_type": "t", "name": "n", "properties": {str(i): "x" for i in range(5)}}
    merged, dropped = merge.apply(doc, CTX, change, TIGHT)
    assert (len(merged["properties"]), dropped) == (3, 2)


@pytest.mark.parametrize(
    "change",
    [
        {"type": "identify", "profile_id": None},  # the previous release's blank id
        {"type": "identify", "profile_id": "   "},
        {"type": "increment", "profile_id": 7, "property": "n", "value": 1},
        {"type": "group", "id": ""},
        {"type": "alias", "profile_id": "u1"},
        ["not", "a", "change"],
    ],
)
def test_a_change_without_a_document_to_apply_to_is_invalid(change):
    with pytest.raises(merge.Invalid):
        merge.target(change)


@pytest.mark.parametrize(
    "change",
    [
        {"type": "increment", "profile_id": "u1", "property": "n", "value": "5"},
        {"type": "increment", "profile_id": "u1", "property": "n", "value": True},
        {"type": "increment", "profile_id": "u1", "property": "n", "value": float("nan")},
        {"type": "increment", "profile_id": "u1", "property": "", "value": 1},
        {"type": "identify", "profile_id": "u1", "properties": {"a": {"b": 1}}},
        {"type": "identify", "profile_id": "u1", "first_name": 5},
        {"type": "assign_group", "profile_id": "u1", "group_ids": "g1"},
        {"type": "group", "id": "g", "group_type": "t", "name": None},
    ],
)
def test_a_change_that_cannot_be_applied_is_invalid(change):
    with pytest.raises(merge.Invalid):
        merge.apply(_profile(), CTX, change, WIDE)


def test_a_huge_integer_increment_adds_up_exactly():
    merged, _ = merge.apply(_profile(n=str(10**40)), CTX, {"type": "increment", "profile_id": "u1", "property": "n",
                                                          "value": 10**40}, WIDE)  # fmt: skip
    assert merged["properties"]["n"] == str(2 * 10**40)


@pytest.mark.parametrize(
    "before, kind, value",
    [
        ("1.7976931348623157e+308", "increment", 1.7976931348623157e308),  # past the float range: inf
        ("-1.7976931348623157e+308", "decrement", 1e308),  # -inf
        ("1.5e308", "increment", 1e308),
        ("inf", "increment", 1),  # a property that holds a non-finite number (written before this check)
        ("nan", "increment", 1),
        ("-Infinity", "decrement", 2),
        ("1e400", "increment", 1),  # a text beyond what a float holds
        ("9" * 400, "increment", 0.5),  # a huge integer plus a float: OverflowError
    ],
)
def test_an_increment_whose_result_is_not_a_finite_number_is_refused_and_counted(before, kind, value):
    """Issue 17, finding 12: 1e308 + 1e308 stored "inf" (and "nan" after it)."""
    doc = _profile(n=before, other="1")
    change = {"type": kind, "profile_id": "u1", "property": "n", "value": value}
    merged, refused = merge.apply(doc, CTX, change, WIDE)
    assert merged["properties"]["n"] == before  # kept as it was
    assert refused == 1  # counted like a change beyond the limits (`profile_limit`)


def test_an_increment_into_a_new_property_that_overflows_adds_no_key():
    merged, refused = merge.apply(_profile(), CTX, {"type": "increment", "profile_id": "u1", "property": "n",
                                                   "value": 1e308}, WIDE)  # fmt: skip
    assert merged["properties"]["n"] == "1e+308" and refused == 0
    merged, refused = merge.apply(merged, CTX, {"type": "increment", "profile_id": "u1", "property": "n",
                                                "value": 1e308}, WIDE)  # fmt: skip
    assert merged["properties"]["n"] == "1e+308" and refused == 1


def test_large_integers_stay_exact():
    doc = _profile(n=str(2**70))
    merged, refused = merge.apply(doc, CTX, {"type": "increment", "profile_id": "u1", "property": "n", "value": 1}, WIDE)
    assert merged["properties"]["n"] == str(2**70 + 1) and refused == 0
