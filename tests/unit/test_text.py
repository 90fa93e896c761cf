"""Text that reaches a column or a key (contract §3 r2): blank, control characters, profile ids."""
import pytest

from ingest.enrich.text import clean, has_control, is_blank
from ingest.pipeline.serializers import ItemError, validate_envelope


@pytest.mark.parametrize(
    "text, blank",
    [
        ("", True), (" ", True), ("\t\n\r", True), ("\u200b", True), ("\u200b\u200c\u200d\u2060\ufeff", True),
        ("\u00a0\u3000\u2028", True), ("\x00\x1f\x7f\x85\x9f", True), ("\u3164\u115f\u2800", True),
        ("a", False), (" a ", False), ("\u200ba", False), ("é", False), ("🙂", False), ("0", False), ("None", False),
    ],
)  # fmt: skip
def test_blank_means_nothing_visible(text, blank):
    assert is_blank(text) is blank


@pytest.mark.parametrize(
    "text, cleaned",
    [
        ("plain text, ünïcode 🙂", "plain text, ünïcode 🙂"),
        ("a\x00b\x07c\x1bd\x7fe", "abcde"),
        ("a\x80b\x9bc\x9f", "abc"),
        ("one\ntwo\r\nthree\tfour\x85five", "one two three four five"),
        ("zero\u200bwidth\u00a0stays", "zero\u200bwidth\u00a0stays"),  # not control characters
    ],
)
def test_clean_removes_c0_and_c1_controls(text, cleaned):
    assert clean(text) == cleaned
    assert not has_control(clean(text))


@pytest.mark.parametrize(
    "kind, profile_id, outcome",
    [
        ("identify", " user-1 ", "user-1"),
        ("identify", 42, "42"),
        ("identify", 4.0, "4"),
        ("identify", 4.5, "4.5"),
        ("identify", 2**64 - 1, "18446744073709551615"),
        ("identify", "", "invalid_profile_id"),
        ("identify", "\u200b ", "invalid_profile_id"),
        ("identify", None, "invalid_profile_id"),
        ("identify", "a\x00b", "invalid_profile_id"),
        ("identify", "p" * 257, "invalid_profile_id"),
        ("identify", 1e300, "invalid_profile_id"),  # not an exact number
        ("identify", True, "invalid_profile_id"),
        ("increment", "", "invalid_profile_id"),
        ("assign_group", "", None),  # optional: blank is absent
        ("assign_group", "\u200b", None),
        ("track", "\ufeff", None),
        ("track", "a\x85b", "invalid_profile_id"),
    ],
)
def test_one_profile_id_rule_for_every_type(kind, profile_id, outcome):
    payload = {"profileId": profile_id, "property": "n", "groupIds": ["g"], "name": "e"}
    try:
        _, validated = validate_envelope({"type": kind, "payload": payload})
    except ItemError as error:
        assert (error.code, str(error).split(":")[0]) == (outcome, "payload.profileId")
    else:
        assert validated.get("profileId") == outcome
