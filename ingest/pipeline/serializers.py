"""One DRF serializer per event type (contract §3). Each item of a batch is validated on its own.

The serializers are built once and reused for every item (`run_validation`): a new serializer
instance per item costs ~90 µs of set-up, the validation itself ~15 µs (see docs/performance.md).

Each serializer decides the common shape itself first (`ItemSerializer.run_validation`, its gate):
every field that can says `certain(value)`, the value DRF's run would return when that run certainly
passes, or MISS. An item any field is not certain of takes DRF's full path, which writes every error
message. tests/unit/test_fast_path.py holds the two paths equal.
"""
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import MaxLengthValidator, MinLengthValidator, ProhibitNullCharactersValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField, get_error_detail
from rest_framework.utils import html
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from ingest.enrich.text import has_control, is_blank
from ingest.pipeline import codes

RESERVED_NAMES = {"session_start", "session_end"}
# What a field's `certain(value)` answers when it is not certain: DRF's own run decides.
MISS = object()
# The largest integer a float (and a JavaScript number) holds exactly: beyond it a numeric id is a guess.
EXACT_FLOAT_INTEGER = 2**53
MAX_PROFILE_ID_LENGTH = 256


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

    def run_validation(self, data=serializers.empty):
        # An object (every track event's properties): what DRF's run would return, without its
        # three calls. No validators are declared on it; anything else takes DRF's own way.
        if type(data) is dict and not self.read_only and not self.validators:
            return data
        return super().run_validation(data)

    def certain(self, value):
        return value if type(value) is dict and not self.validators else MISS

    def to_representation(self, value):
        return value


@extend_schema_field(
    {
        "oneOf": [{"type": "string", "maxLength": MAX_PROFILE_ID_LENGTH}, {"type": "number"}],
        "description": "Blank (nothing visible once trimmed) is refused where a profile id is required, "
        "and means no profile id where it is optional.",
    }
)
class ProfileIdField(serializers.Field):
    """A profile id (contract §3 r2): a string or a number, kept as text; the one rule for every
    profile id Spool reads. A blank one (nothing visible once trimmed) is an error where the id is
    required and None ("no profile id") where it is optional. Every error here has the row code
    `invalid_profile_id`."""

    default_error_messages = {
        "invalid": "expected a string or a number",
        "too_long": f"longer than {MAX_PROFILE_ID_LENGTH} characters",
        "blank": "this field may not be blank",
        "control": "control characters are not allowed",
        "inexact": "a number this large is not an exact id; send it as a string",
    }

    def run_validation(self, data=serializers.empty):
        try:
            return super().run_validation(data)
        except serializers.ValidationError as error:
            texts = [str(text) for text in error.detail]
            raise serializers.ValidationError(texts, code=codes.INVALID_PROFILE_ID) from None

    def certain(self, value):
        return _plain_certain(self, value)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (str, int, float)):
            self.fail("invalid")
        if isinstance(data, float):
            if not math.isfinite(data) or abs(data) >= EXACT_FLOAT_INTEGER:
                self.fail("inexact")
            return str(int(data)) if data.is_integer() else repr(data)
        if isinstance(data, int):
            if abs(data) >= 10**MAX_PROFILE_ID_LENGTH:
                self.fail("too_long")
            return str(data)
        text = data.strip()
        if len(text) > MAX_PROFILE_ID_LENGTH:
            self.fail("too_long")
        if is_blank(text):
            if self.required:
                self.fail("blank")
            return None
        if has_control(text):
            self.fail("control")
        return text

    def to_representation(self, value):
        return value


def _plain_certain(field: serializers.Field, value):
    """For a field whose run is Field's (no validators, no empty-value rule of its own): a value that
    is not None (the gate settles None) passes exactly when `to_internal_value` does."""
    if field.validators:
        return MISS
    try:
        return field.to_internal_value(value)
    except serializers.ValidationError:
        return MISS


@extend_schema_field({"type": "number", "minimum": 0, "exclusiveMinimum": True})
class PositiveNumberField(serializers.Field):
    """A number greater than zero; ints stay ints and floats stay floats."""

    default_error_messages = {"invalid": "expected a positive number"}

    def certain(self, value):
        return _plain_certain(self, value)

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

    @cached_property
    def _gate(self) -> list[tuple[str, object, bool, bool]] | None:
        """(name, its `certain` or None, required, allow_null) of every writable field; None when the
        serializer has a rule a field does not see (validators, `validate`, `validate_<field>`, a
        default, a source of its own), and then every item takes DRF's path."""
        plain = type(self).validate is serializers.Serializer.validate and not self.validators
        if not plain or self._has_field_methods:
            return None
        gate = []
        for field in self._writable_list:
            if field.default is not serializers.empty or field.source_attrs != [field.field_name]:
                return None
            gate.append((field.field_name, getattr(field, "certain", None), field.required, field.allow_null))
        return gate

    def certain(self, data) -> dict | None:
        """The validated item DRF would return for `data`, when every field is certain of its value;
        else None. Absent and null values are settled as DRF settles them (validate_empty_values)."""
        gate = self._gate
        if gate is None or type(data) is not dict:
            return None
        validated: dict = {}
        for name, certain, required, allow_null in gate:
            value = data.get(name, serializers.empty)
            if value is serializers.empty:
                if required:
                    return None
                continue
            if value is None:
                if not allow_null:
                    return None
                validated[name] = None
                continue
            if certain is None:
                return None
            found = certain(value)  # type: ignore[operator]
            if found is MISS:
                return None
            validated[name] = found
        return validated

    def run_validation(self, data=serializers.empty):
        if _gate_open:
            found = self.certain(data)
            if found is not None:
                return found
        return super().run_validation(data)

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


_gate_open = True


@contextmanager
def full_path() -> Iterator[None]:
    """Every item takes DRF's full path meanwhile (the other side of the differential test)."""
    global _gate_open
    _gate_open = False
    try:
        yield
    finally:
        _gate_open = True


# The validators DRF gives every CharField (TextField.run_validators decides them itself).
_TEXT_VALIDATORS = (
    MaxLengthValidator, MinLengthValidator, ProhibitNullCharactersValidator, ProhibitSurrogateCharactersValidator,
)  # fmt: skip


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
        text = super().to_internal_value(data)
        if has_control(text):  # names and ids reach columns and keys (contract §3 r2)
            raise serializers.ValidationError("control characters are not allowed")
        return text

    @cached_property
    def _stock_validators(self) -> bool:
        return all(type(validator) in _TEXT_VALIDATORS for validator in self.validators)

    def certain(self, value):
        """`value` itself when DRF's run certainly returns it: a str of the allowed length that
        trimming leaves as it is (CPython's strip returns the very object then), with no control
        character and no surrogate (it UTF-8 encodes). Anything else (blank, padded, a number) is MISS."""
        if type(value) is not str or not self._stock_validators or not self._plain_text:
            return MISS
        size = len(value)
        if not size or value.strip() is not value or has_control(value):
            return MISS
        if (self.min_length is not None and size < self.min_length) or (
            self.max_length is not None and size > self.max_length
        ):
            return MISS
        if not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                return MISS
        return value

    @cached_property
    def _plain_text(self) -> bool:
        """No rule of a subclass beyond TextField's (EventNameField adds its own check to `certain`)."""
        return type(self).to_internal_value in (TextField.to_internal_value, EventNameField.to_internal_value)

    def run_validators(self, value):
        """DRF's validators of a CharField, decided at C speed when none can fail (the usual case):
        the surrogate check alone walked every character in Python, 10% of a batch's time. A text
        that UTF-8 encodes holds no surrogate; the other three are a length and a NUL test. Any
        doubt (or another validator) goes to DRF's own run, which gives the same messages."""
        if self._stock_validators and isinstance(value, str) and "\x00" not in value:
            size = len(value)
            if (self.min_length is None or size >= self.min_length) and (
                self.max_length is None or size <= self.max_length
            ):
                try:
                    value.encode()
                    return
                except UnicodeEncodeError:
                    pass
        super().run_validators(value)


def _optional_text(**kwargs):
    return TextField(required=False, allow_null=True, allow_blank=True, **kwargs)


class EventNameField(TextField):
    def __init__(self, **kwargs):
        super().__init__(max_length=settings.MAX_EVENT_NAME_LENGTH, **kwargs)

    def to_internal_value(self, data):
        name = super().to_internal_value(data)
        if name in RESERVED_NAMES:
            raise serializers.ValidationError(f"'{name}' is reserved for the server")
        return name

    def certain(self, value):
        found = super().certain(value)
        return MISS if found in RESERVED_NAMES else found


class TextListField(serializers.ListField):
    """A list of texts (group ids)."""

    def certain(self, value):
        """The list DRF's run returns when every item is certain and the length is allowed; else MISS."""
        child = self.child
        if type(value) is not list or not hasattr(child, "certain") or not self._length_validators:
            return MISS
        size = len(value)
        if (not self.allow_empty and not size) or (self.min_length is not None and size < self.min_length):
            return MISS
        if self.max_length is not None and size > self.max_length:
            return MISS
        found = [child.certain(item) for item in value]
        return MISS if MISS in found else found

    @cached_property
    def _length_validators(self) -> bool:
        return all(type(validator) in (MaxLengthValidator, MinLengthValidator) for validator in self.validators)


class TrackPayloadSerializer(ItemSerializer):
    name = EventNameField()
    properties = JSONObjectField()
    profileId = ProfileIdField(required=False, allow_null=True)
    groups = TextListField(child=TextField(max_length=256), required=False, allow_null=True, max_length=100)


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
    groupIds = TextListField(child=TextField(max_length=256), min_length=1, max_length=100)
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
    """One item is refused: `str()` is the message (`payload.name: this field may not be blank`),
    `code` its row code (ingest/pipeline/codes.py)."""

    def __init__(self, message: str, code: str = codes.INVALID_FIELD):
        super().__init__(message)
        self.code = code

    @property
    def body(self) -> dict:
        """Added to the 400 answer of a single event (ingest/api/errors.py)."""
        return {"code": self.code}


_validators: dict[str, serializers.Serializer] = {}


def _message(text) -> str:
    text = str(text).rstrip(".")
    return text[:1].lower() + text[1:]


def _first_error(detail, path: str = "") -> tuple[str, object]:
    """(the path of the first error, the error) in DRF's nested error detail."""
    if isinstance(detail, dict):
        key, value = next(iter(detail.items()))
        if key == "non_field_errors":  # about the object itself ("expected a dictionary")
            return _first_error(value, path or "item")
        return _first_error(value, f"{path}.{key}" if path else key)
    if isinstance(detail, list):
        if detail and all(isinstance(entry, (str, serializers.ErrorDetail)) for entry in detail):
            return path, detail[0]
        for index, entry in enumerate(detail):
            if entry:
                return _first_error(entry, f"{path}.{index}" if path else str(index))
    return path, detail


def item_error(detail) -> ItemError:
    """The ItemError of a DRF error detail: the first error with its path, and its row code."""
    path, error = _first_error(detail)
    code = getattr(error, "code", None)
    message = f"{path}: {_message(error)}" if path else _message(error)
    return ItemError(message, code if code in codes.CODES else codes.INVALID_FIELD)


def validate_envelope(item) -> tuple[str, dict]:
    """Return (type, validated payload) or raise ItemError."""
    if not isinstance(item, dict):
        raise ItemError("item: expected an object with 'type' and 'payload'", codes.INVALID_EVENT)
    kind = item.get("type")
    if not isinstance(kind, str):
        raise ItemError("type: this field is required", codes.INVALID_EVENT)
    if kind in UNSUPPORTED:
        raise ItemError(f"type: {UNSUPPORTED[kind]}", codes.UNSUPPORTED_TYPE)
    if kind == "batch":
        raise ItemError("type: a batch cannot be nested inside a batch", codes.INVALID_EVENT)
    serializer = PAYLOADS.get(kind)
    if serializer is None:
        raise ItemError(f"type: unknown event type '{kind[:40]}'", codes.UNSUPPORTED_TYPE)
    payload = item.get("payload", serializers.empty)
    if payload is serializers.empty or payload is None:
        missing = "is required" if payload is serializers.empty else "may not be null"
        raise ItemError(f"payload: this field {missing}", codes.INVALID_EVENT)
    validator = _validators.get(kind)
    if validator is None:
        validator = _validators[kind] = serializer()
    try:
        return kind, validator.run_validation(payload)
    except serializers.ValidationError as error:
        raise item_error({"payload": error.detail}) from None
