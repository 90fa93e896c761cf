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


TEXTS = ["", " ", "a", "ab", "abc", "a" * 256, "a" * 257, "é" * 3, "a\x00", "\x00", "a\ud800b", "\udfff", "\ud83d\ude80",
         "🚀", "x\u200b", "\t"]  # fmt: skip  (validators see what to_internal_value made: text)


@pytest.mark.parametrize("options", [{}, {"max_length": 2}, {"max_length": 256}, {"allow_blank": True, "max_length": 3}])
def test_text_validators_decide_as_drf_does(options):
    """TextField.run_validators decides DRF's four CharField validators at C speed; DRF's own loop
    must give the same answers and messages."""
    from rest_framework.fields import Field

    from ingest.pipeline.serializers import TextField

    field = TextField(**options)
    for text in TEXTS:
        ours = _validators_outcome(field.run_validators, text)
        assert ours == _validators_outcome(lambda value: Field.run_validators(field, value), text), text


def _validators_outcome(run, value):
    try:
        run(value)
        return "ok"
    except serializers.ValidationError as error:
        return error.detail
