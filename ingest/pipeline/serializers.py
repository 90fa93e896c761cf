"""One DRF serializer per event type (contract §3). Each item of a batch is validated on its own.

The serializers are built once and reused for every item (`run_validation`): a new serializer
instance per item costs ~90 µs of set-up, the validation itself ~15 µs (see docs/performance.md).
"""
import math
import re
from collections.abc import Mapping
from functools import cached_property

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField, get_error_detail
from rest_framework.utils import html

RESERVED_NAMES = {"session_start", "session_end"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@extend_schema_field({"type": "object", "additionalProperties": True})
class JSONObjectField(serializers.Field):
    """Any JSON object, passed through as a dict (flattened later)."""

    default_error_messages = {"invalid": "expected an object"}

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


@extend_schema_field({"oneOf": [{"type": "string", "maxLength": 256}, {"type": "number"}]})
class ProfileIdField(serializers.Field):
    """A profile id: a string or a number, kept as text. Blank means none."""

    default_error_messages = {"invalid": "expected a string or a number", "too_long": "longer than 256 characters"}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (str, int, float)):
            self.fail("invalid")
        if isinstance(data, float):
            if not math.isfinite(data):
                self.fail("invalid")
            text = str(int(data)) if data.is_integer() else repr(data)
        else:
            text = str(data).strip()
        if len(text) > 256:
            self.fail("too_long")
        return text or None

    def to_representation(self, value):
        return value


@extend_schema_field({"type": "number", "minimum": 0, "exclusiveMinimum": True})
class PositiveNumberField(serializers.Field):
    """A number greater than zero; ints stay ints and floats stay floats."""

    default_error_messages = {"invalid": "expected a positive number"}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            self.fail("invalid")
        if not math.isfinite(data) or data <= 0:
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


class ItemSerializer(serializers.Serializer):
    """Base of the payload serializers. One instance validates every item of its type, so the work
    DRF would repeat on each call is done once: the list of writable fields, and the serializer-level
    validators (ours have none; DRF would still build the read-only defaults to feed them)."""

    @cached_property
    def _writable_list(self) -> list:
        return [field for field in self.fields.values() if not field.read_only]

    @cached_property
    def _has_field_methods(self) -> bool:
        return any(hasattr(self, f"validate_{field.field_name}") for field in self._writable_list)

    @property
    def _writable_fields(self):
        return self._writable_list

    def run_validators(self, value):
        if self.validators:
            super().run_validators(value)

    def to_internal_value(self, data):
        """DRF's own loop over the fields (Serializer.to_internal_value), except that an absent
        optional field without a default is passed over at once: DRF gets there by raising and
        catching SkipField, which cost more than validating the field. The results are the same
        (tests/unit/test_serializers.py compares the two)."""
        if not isinstance(data, Mapping) or html.is_html_input(data) or self._has_field_methods:
            return super().to_internal_value(data)
        validated: dict = {}
        errors: dict = {}
        for field in self._writable_list:
            value = data.get(field.field_name, serializers.empty)
            if value is serializers.empty and not field.required and field.default is serializers.empty:
                continue
            try:
                result = field.run_validation(value)
            except serializers.ValidationError as error:
                errors[field.field_name] = error.detail
            except DjangoValidationError as error:
                errors[field.field_name] = get_error_detail(error)
            except SkipField:
                pass
            else:
                self.set_value(validated, field.source_attrs, result)
        if errors:
            raise serializers.ValidationError(errors)
        return validated


class TextField(serializers.CharField):
    """A JSON string. DRF's CharField would turn a number into text; the contract says string."""

    def __init__(self, **kwargs):
        if not kwargs.get("allow_blank"):
            kwargs.setdefault("min_length", 1)  # the same rule as "not blank", stated for the OpenAPI schema
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if self.max_length is not None and len(data) > self.max_length:
            # The limit holds for the text as sent, as the OpenAPI schema says, not only once trimmed.
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


def _optional_text(**kwargs):
    return TextField(required=False, allow_null=True, allow_blank=True, **kwargs)


class EventNameField(TextField):
    def __init__(self, **kwargs):
        super().__init__(max_length=settings.MAX_EVENT_NAME_LENGTH, **kwargs)

    def to_internal_value(self, data):
        name = super().to_internal_value(data)
        if _CONTROL.search(name):
            raise serializers.ValidationError("control characters are not allowed")
        if name in RESERVED_NAMES:
            raise serializers.ValidationError(f"'{name}' is reserved for the server")
        return name


class TrackPayloadSerializer(ItemSerializer):
    name = EventNameField()
    properties = JSONObjectField()
    profileId = ProfileIdField(required=False, allow_null=True)
    groups = serializers.ListField(
        child=TextField(max_length=256), required=False, allow_null=True, max_length=100
    )


class IdentifyPayloadSerializer(ItemSerializer):
    profileId = ProfileIdField()
    firstName = _optional_text(max_length=256)
    lastName = _optional_text(max_length=256)
    email = serializers.EmailField(required=False, allow_null=True, allow_blank=True)
    avatar = serializers.URLField(required=False, allow_null=True, allow_blank=True, max_length=2048)
    properties = JSONObjectField()


class IncrementPayloadSerializer(ItemSerializer):
    profileId = ProfileIdField()
    property = TextField(max_length=256)
    value = PositiveNumberField(required=False, allow_null=True)


class GroupPayloadSerializer(ItemSerializer):
    id = TextField(max_length=256)
    type = TextField(max_length=256)
    name = TextField(max_length=256)
    properties = JSONObjectField()


class AssignGroupPayloadSerializer(ItemSerializer):
    groupIds = serializers.ListField(child=TextField(max_length=256), min_length=1, max_length=100)
    profileId = ProfileIdField(required=False, allow_null=True)


PAYLOADS = {
    "track": TrackPayloadSerializer,
    "identify": IdentifyPayloadSerializer,
    "increment": IncrementPayloadSerializer,
    "decrement": IncrementPayloadSerializer,
    "group": GroupPayloadSerializer,
    "assign_group": AssignGroupPayloadSerializer,
}
UNSUPPORTED = {"alias": "alias is not supported", "replay": "replay is not supported"}


class ItemError(ValueError):
    """One item is refused: `str()` is the message (`payload.name: this field may not be blank`)."""


_validators: dict[str, serializers.Serializer] = {}


def _message(text) -> str:
    text = str(text).rstrip(".")
    return text[:1].lower() + text[1:]


def _flatten_errors(detail, path: str = "") -> str:
    if isinstance(detail, dict):
        key, value = next(iter(detail.items()))
        if key == "non_field_errors":  # about the object itself ("expected a dictionary")
            return _flatten_errors(value, path or "item")
        return _flatten_errors(value, f"{path}.{key}" if path else key)
    if isinstance(detail, list):
        if detail and all(isinstance(entry, (str, serializers.ErrorDetail)) for entry in detail):
            return f"{path}: {_message(detail[0])}" if path else _message(detail[0])
        for index, entry in enumerate(detail):
            if entry:
                return _flatten_errors(entry, f"{path}.{index}" if path else str(index))
    return f"{path}: {_message(detail)}" if path else _message(detail)


def validate_envelope(item) -> tuple[str, dict]:
    """Return (type, validated payload) or raise ItemError."""
    if not isinstance(item, dict):
        raise ItemError("item: expected an object with 'type' and 'payload'")
    kind = item.get("type")
    if not isinstance(kind, str):
        raise ItemError("type: this field is required")
    if kind in UNSUPPORTED:
        raise ItemError(f"type: {UNSUPPORTED[kind]}")
    if kind == "batch":
        raise ItemError("type: a batch cannot be nested inside a batch")
    serializer = PAYLOADS.get(kind)
    if serializer is None:
        raise ItemError(f"type: unknown event type '{kind[:40]}'")
    payload = item.get("payload", serializers.empty)
    if payload is serializers.empty or payload is None:
        raise ItemError(f"payload: this field {'is required' if payload is serializers.empty else 'may not be null'}")
    validator = _validators.get(kind)
    if validator is None:
        validator = _validators[kind] = serializer()
    try:
        return kind, validator.run_validation(payload)
    except serializers.ValidationError as error:
        raise ItemError(_flatten_errors({"payload": error.detail})) from None
