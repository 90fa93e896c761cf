"""The serializers' gate (ingest/pipeline/serializers.py, `ItemSerializer.certain`) against DRF's full
path: for the corpus, the bench data, generated items and mutations of valid ones, every prepared
value and every rejection (index, code, message) must be the same with the gate open and shut."""
import dataclasses
import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import data as bench_data
from ingest.pipeline import accept, serializers
from ingest.pipeline.request import RequestMemo, sender_info
from projects.auth import ProjectContext
from tests.integration import test_corpus, test_poison_corpus
from tests.support.agents import BROWSER_UA

PROJECT = ProjectContext(
    id="fast-path", client_id="c", secret_hash="", origins=(), ignore_cors_and_secret=False, backfill_days=5,
    current_salt="salt-now", previous_salt="salt-before",
)  # fmt: skip


def _memo(received_ms: int) -> RequestMemo:
    return RequestMemo(PROJECT, sender_info(received_ms, "81.2.69.142", BROWSER_UA, sdk_name="web"))


def _outcome(items: list, received_ms: int) -> tuple[list, list]:
    prepared, rejected = accept._prepare_all(items, _memo(received_ms))
    return [dataclasses.asdict(item) for item in prepared], [rejection.as_dict() for rejection in rejected]


def _same_both_ways(items: list, received_ms: int) -> tuple[list, list]:
    fast = _outcome(items, received_ms)
    with serializers.full_path():
        full = _outcome(items, received_ms)
    assert fast == full
    return fast


def _gated(items: list) -> int:
    """How many items the gate itself decided (the test must exercise the fast path, not only DRF's)."""
    count = 0
    for item in items:
        kind = item.get("type") if isinstance(item, dict) else None
        payload = item.get("payload") if isinstance(item, dict) else None
        if kind in serializers.PAYLOADS and serializers.PAYLOADS[kind]().certain(payload) is not None:
            count += 1
    return count


def test_the_corpus_prepares_alike(geoip):
    items = [*test_corpus.BATCH]
    for _, _, _, body, _, _ in test_corpus.CORPUS:
        if isinstance(body, dict) and "type" in body:
            items += body["payload"] if body["type"] == "batch" and isinstance(body["payload"], list) else [body]
    prepared, rejected = _same_both_ways(items, test_corpus.NOW_MS)
    assert rejected and prepared and _gated(items) >= 20


def test_the_bench_data_prepares_alike(geoip):
    now_ms = int(time.time() * 1000)
    items = bench_data.events(now_ms, seed=7, count=2000)
    prepared, rejected = _same_both_ways(items, now_ms)
    assert len(prepared) == 2000 and not rejected and _gated(items) == 2000


# Values a field may meet at its edges: lengths, padding, controls, surrogates, numbers that look like ids.
EDGES = [
    None, "", " ", "a", " a", "a ", "\ta", "a\n", "\u200b", "\u3164", "a\x00", "a\x7f", "a\x9b", "a\ud800", "é", "🚀",
    "n" * 80, "n" * 81, "n" * 256, "n" * 257, "session_start", "session_end", " session_end", 0, 1, -1, 2.5, 1e300,
    2**53, 2**53 - 1, float("inf"), True, False, [], ["a"], ["a", ""], ["a", None], [" a"], ["a"] * 100, ["a"] * 101,
    [1], {}, {"a": 1}, "user@example.com", "https://example.com/a.png",
]  # fmt: skip
FIELDS = ["name", "properties", "profileId", "groups", "firstName", "lastName", "email", "avatar", "property", "value",
          "id", "type", "groupIds"]  # fmt: skip
VALID = [
    {"type": "track", "payload": {"name": "screen_view", "properties": {"a": 1}}},
    {"type": "track", "payload": {"name": "buy", "properties": {}, "profileId": "u-1", "groups": ["g1", "g2"]}},
    {"type": "identify", "payload": {"profileId": "u-2", "firstName": "Ann", "properties": {"plan": "pro"}}},
    {"type": "increment", "payload": {"profileId": "u-2", "property": "logins", "value": 2}},
    {"type": "decrement", "payload": {"profileId": "u-2", "property": "credits"}},
    {"type": "group", "payload": {"id": "org", "type": "company", "name": "Acme", "properties": {"seats": 3}}},
    {"type": "assign_group", "payload": {"groupIds": ["org"], "profileId": "u-2"}},
]


def _mutations(rng: random.Random, count: int) -> list:
    out = []
    for _ in range(count):
        item = {"type": (base := rng.choice(VALID))["type"], "payload": dict(base["payload"])}
        for _ in range(rng.randint(1, 3)):
            field = rng.choice(FIELDS + list(item["payload"]))
            if rng.random() < 0.15:
                item["payload"].pop(field, None)
            else:
                item["payload"][field] = rng.choice(EDGES)
        out.append(item)
    return out


def test_mutated_valid_items_prepare_alike(geoip):
    now_ms = int(time.time() * 1000)
    items = _mutations(random.Random(19), 4000)
    prepared, rejected = _same_both_ways(items, now_ms)
    assert len(prepared) > 500 and len(rejected) > 500 and _gated(items) > 500


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(st.lists(test_poison_corpus._items(), min_size=1, max_size=30))
def test_generated_items_prepare_alike(items):
    _same_both_ways(items, int(time.time() * 1000))


@pytest.mark.parametrize("kind", sorted(serializers.PAYLOADS))
def test_each_serializer_decides_its_edges_as_drf(kind):
    """Field by field: the gate's value equals DRF's, or the gate leaves the item to DRF."""
    validator = serializers.PAYLOADS[kind]()
    base = next(item["payload"] for item in VALID if item["type"] == kind)
    for field in FIELDS:
        for value in EDGES:
            payload = {**base, field: value}
            found = validator.certain(payload)
            if found is not None:
                with serializers.full_path():
                    assert validator.run_validation(payload) == found, payload
