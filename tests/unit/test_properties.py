import pytest

from ingest.enrich.properties import InvalidProperty, flatten, split_specials


def test_split_specials_drops_nulls():
    specials, ordinary = split_specials({"__timestamp": None, "__path": "/a", "a": 1, "__title": "t"})
    assert specials == {"__path": "/a"}
    assert ordinary == {"a": 1, "__title": "t"}


def test_deep_nesting_does_not_recurse():
    node: dict = {"leaf": 1}
    for _ in range(10_000):
        node = {"n": node}
    flat = flatten(node, 500)
    assert len(flat) == 1
    assert next(iter(flat.values())) == "1"


def test_key_limit():
    with pytest.raises(InvalidProperty, match="500"):
        flatten({"l": list(range(501))}, 500)


def test_non_finite_numbers_are_refused_with_their_path():
    with pytest.raises(InvalidProperty, match="a.b: number out of range"):
        flatten({"a": {"b": float("inf")}}, 500)


def test_order_is_kept():
    assert list(flatten({"b": 1, "a": {"z": 1, "y": 2}}, 10)) == ["b", "a.z", "a.y"]
