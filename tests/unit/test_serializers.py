"""The payload serializers skip DRF's SkipField round trip for absent fields (ingest/serializers.py);
they must validate exactly as plain DRF serializers with the same fields do."""
import copy
import itertools

import pytest
from rest_framework import serializers

from ingest.pipeline.serializers import PAYLOADS

VALUES = [serializers.empty, None, "", " x ", "a" * 300, 0, -1, 2.5, float("inf"), True, [], ["a", None], [1, "b"],
          {}, {"a": {"b": 1}}, "user@example.com", "https://example.com/a.png", "a\x00b", "a\ud800"]  # fmt: skip


def _plain_twin(serializer_class):
    fields = {name: copy.deepcopy(field) for name, field in serializer_class._declared_fields.items()}
    return type(f"Plain{serializer_class.__name__}", (serializers.Serializer,), fields)()


def _outcome(serializer, data):
    try:
        return "ok", dict(serializer.run_validation(data))
    except serializers.ValidationError as error:
        return "error", error.detail


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
def test_payload_serializers_validate_like_plain_drf(kind):
    ours, plain = PAYLOADS[kind](), _plain_twin(PAYLOADS[kind])
    names = list(ours.fields)
    cases = ["not a dict", [], None]
    for name, value in itertools.product(names, VALUES):
        base = {other: "ok" for other in names if other != name}
        cases += [{**base, name: value}, {name: value}]
    for data in cases:
        data = {key: value for key, value in data.items() if value is not serializers.empty} if isinstance(data, dict) else data
        assert _outcome(ours, data) == _outcome(plain, data), data
