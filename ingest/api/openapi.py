"""The OpenAPI description of the API (drf-spectacular): request and answer shapes, security
schemes, and one `extend_schema` per view. Shapes only: validation lives in ingest/pipeline/serializers.py,
and the error answers come from the table in ingest/api/errors.py.
"""
from typing import Any

import orjson
from django.conf import settings
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers

from ingest.api import errors
from ingest.pipeline import codes
from ingest.pipeline.serializers import (
    AssignGroupPayloadSerializer,
    GroupPayloadSerializer,
    IdentifyPayloadSerializer,
    IncrementPayloadSerializer,
    TrackPayloadSerializer,
)


def _event_shape(type_name: str, payload: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """`{"type": type_name, "payload": {...}}`, named after the type (component `TrackEvent`, ...)."""
    name = "".join(part.title() for part in type_name.split("_")) + "EventSerializer"
    fields = {"type": serializers.ChoiceField(choices=[type_name]), "payload": payload()}
    return type(name, (serializers.Serializer,), {**fields, "__doc__": f"An event of type `{type_name}`."})


EVENT_TYPES: dict[str, serializers.Serializer | type[serializers.Serializer]] = {
    type_name: _event_shape(type_name, payload)
    for type_name, payload in (
        ("track", TrackPayloadSerializer),
        ("identify", IdentifyPayloadSerializer),
        ("increment", IncrementPayloadSerializer),
        ("decrement", IncrementPayloadSerializer),
        ("group", GroupPayloadSerializer),
        ("assign_group", AssignGroupPayloadSerializer),
    )
}
CLIENT_ID, CLIENT_SECRET = "clientId", "clientSecret"
# A secret, or (browsers) no secret and an Origin listed for the project (contract §2).
# Security requirement objects: drf-spectacular declares `auth` as scheme names, and writes these as given.
CREDENTIALS: Any = [{CLIENT_ID: [], CLIENT_SECRET: []}, {CLIENT_ID: []}]

SECURITY_SCHEMES = {
    CLIENT_ID: {
        "type": "apiKey",
        "in": "header",
        "name": "openpanel-client-id",
        "description": "The project's client id (a UUID).",
    },
    CLIENT_SECRET: {
        "type": "apiKey",
        "in": "header",
        "name": "openpanel-client-secret",
        "description": "The project's client secret. Browsers leave it out; their Origin must then be allowed.",
    },
}


def _event(many: bool = False) -> PolymorphicProxySerializer:
    return PolymorphicProxySerializer(
        component_name="Event", serializers=EVENT_TYPES, resource_type_field_name="type", many=many
    )


@extend_schema_field(_event(many=True))
class EventListField(serializers.ListField):
    """A list of events, described as a list of the `Event` union."""


CLOCK_SKEW_RULE = (
    "When it differs from the server's clock by more than 10 s, every `__timestamp` of the batch is corrected by "
    "the difference (received_at − sentAt) before the 60 s future clamp and the backfill window; the row keeps "
    "the correction as the property `__clock_skew_ms`, and the answer says `clockSkewMs`. Row ids hash the "
    "`__timestamp` as sent, so a retry with another sentAt still collapses (contract §5.1)."
)


@extend_schema_field({"anyOf": [{"type": "string"}, {"type": "number"}], "nullable": True})
class SentAtField(serializers.Field):
    """When the device sent the batch, by its own clock: ISO-8601, or epoch milliseconds."""


def _sent_at() -> SentAtField:
    return SentAtField(
        required=False, help_text="When the device sent the batch, by its own clock: ISO-8601 or epoch ms. "
        + CLOCK_SKEW_RULE + " Not a time: 400 `invalid_sent_at`.",
    )  # fmt: skip


class BatchEnvelopeSerializer(serializers.Serializer):
    events = EventListField(min_length=1, max_length=settings.MAX_BATCH_EVENTS)
    sentAt = _sent_at()


class BatchEventSerializer(serializers.Serializer):
    """A batch sent to `POST /track`: `{"type": "batch", "payload": [...]}`."""

    type = serializers.ChoiceField(choices=["batch"])
    payload = EventListField(min_length=1, max_length=settings.MAX_BATCH_EVENTS)
    sentAt = _sent_at()


TRACK_REQUEST = PolymorphicProxySerializer(
    component_name="TrackRequest",
    serializers={**EVENT_TYPES, "batch": BatchEventSerializer},
    resource_type_field_name="type",
)


class IdsAnswerSerializer(serializers.Serializer):
    deviceId = serializers.CharField(help_text="The device id; the JS SDK stores what it receives.")
    sessionId = serializers.CharField()


class SingleAnswerSerializer(IdsAnswerSerializer):
    duplicate = serializers.BooleanField(
        required=False, help_text="Present (true) when the same event arrived within 100 ms: it was not queued again."
    )


class RejectionSerializer(serializers.Serializer):
    index = serializers.IntegerField(min_value=0, help_text="The row's position in the request.")
    reason = serializers.ChoiceField(
        choices=["validation", "internal"], help_text="internal: the server failed on this row; retry it."
    )
    code = serializers.ChoiceField(
        choices=list(codes.CODES),
        help_text="What is wrong, for machines (contract §4): "
        + "; ".join(f"`{code.name}` ({code.reason}): {code.meaning}" for code in codes.CODES.values())
        + ".",
    )
    error = serializers.CharField(help_text="The field path and the problem, e.g. `payload.name: ...`.")


class BatchAnswerSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(min_value=0, help_text="Rows durably queued.")
    rejected = RejectionSerializer(many=True)
    clockSkewMs = serializers.IntegerField(
        required=False, help_text="Present when the batch's sentAt is more than 10 s off the server's clock: "
        "received_at − sentAt in ms (positive: the device clock is behind), the correction its `__timestamp` "
        "times received.",
    )  # fmt: skip


class BotNameSerializer(serializers.Serializer):
    name = serializers.CharField()


class BotAnswerSerializer(serializers.Serializer):
    """A crawler's request: answered, nothing stored."""

    bot = BotNameSerializer()


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="A code, e.g. `invalid_json`, `unauthorized`, `validation`.")
    message = serializers.CharField()
    code = serializers.ChoiceField(
        choices=list(codes.CODES), required=False, help_text="With `validation` only: the event's row code (Rejection)."
    )


class ReadyChecksSerializer(serializers.Serializer):
    database = serializers.CharField(help_text="`ok`, or `error: <kind>`")
    redis = serializers.CharField()


class HealthChecksSerializer(ReadyChecksSerializer):
    clickhouse = serializers.CharField()


def _checks_answer(name: str, checks: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The answer of a probe that checks systems: `HealthSerializer`, `ReadySerializer`."""
    fields = {
        "status": serializers.ChoiceField(choices=["ok", "unavailable"]),
        "checks": checks(),
        "error": serializers.CharField(required=False, help_text="On 503 only."),
        "message": serializers.CharField(required=False, help_text="On 503 only: the systems not answering."),
    }
    return type(name, (serializers.Serializer,), fields)


HealthSerializer = _checks_answer("HealthSerializer", HealthChecksSerializer)
ReadySerializer = _checks_answer("ReadySerializer", ReadyChecksSerializer)


ACCEPTED = PolymorphicProxySerializer(
    component_name="Accepted", serializers=[BatchAnswerSerializer, BotAnswerSerializer], resource_type_field_name=None
)
RETRY_AFTER = OpenApiParameter(
    "Retry-After", int, OpenApiParameter.HEADER, description="Seconds to wait before retrying.", response=[429, 503]
)
SENT_AT = OpenApiParameter(
    "spool-sent-at", str, OpenApiParameter.HEADER, required=False,
    description="When the device sent the batch, by its own clock (ISO-8601 or epoch ms): the `sentAt` of an "
    "NDJSON body, which has no envelope (a JSON envelope's own `sentAt` wins). " + CLOCK_SKEW_RULE,
)  # fmt: skip


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


# In status order; 404 is /track's own. Each lists its `error` codes (ingest/api/errors.py).
ERRORS = {status: _error(errors.documented(status)) for status in (400, 401, 404, 413, 415, 429, 503)}
# Examples (issue 11 §9): every event type, both batch spellings, NDJSON, answers and each error.
EVENT_EXAMPLES = {
    "track": {"type": "track", "payload": {"name": "signup", "profileId": "user-42", "groups": ["team-7"],
              "properties": {"plan": "pro", "__path": "https://app.example.com/join?ref=mail",
                             "__timestamp": "2026-11-30T08:03:05.120Z", "__insertId": "signup-user-42"}}},
    "identify": {"type": "identify", "payload": {"profileId": "user-42", "firstName": "Ada", "lastName": "Lovelace",
                 "email": "ada@example.com", "avatar": "https://example.com/ada.png", "properties": {"tier": "gold"}}},
    "increment": {"type": "increment", "payload": {"profileId": "user-42", "property": "visits", "value": 1}},
    "decrement": {"type": "decrement", "payload": {"profileId": "user-42", "property": "credits", "value": 5}},
    "group": {"type": "group", "payload": {"id": "team-7", "type": "company", "name": "Analytical Engines",
              "properties": {"seats": 12}}},
    "assign_group": {"type": "assign_group", "payload": {"profileId": "user-42", "groupIds": ["team-7"]}},
}  # fmt: skip
OFFLINE_EVENTS = [
    {"type": "track", "payload": {"name": "app_open", "properties": {
        "__timestamp": "2026-11-28T08:03:05Z", "__deviceId": "sensor-17", "__insertId": "sensor-17-1041"}}},
    EVENT_EXAMPLES["identify"],
    {"type": "track", "payload": {"name": ""}},
]  # fmt: skip
TRACK_EXAMPLES = [
    *(OpenApiExample(f"{name} event", value=value, request_only=True) for name, value in EVENT_EXAMPLES.items()),
    OpenApiExample("batch spelled type batch", value={"type": "batch", "payload": OFFLINE_EVENTS},
                   request_only=True),
]  # fmt: skip
BATCH_EXAMPLES = [
    OpenApiExample("batch of an offline device", value={"sentAt": "2026-11-30T09:00:00Z", "events": OFFLINE_EVENTS},
                   request_only=True, media_type="application/json"),
    OpenApiExample("NDJSON one event per line", request_only=True, media_type="application/x-ndjson",
                   value="\n".join(orjson.dumps(event).decode() for event in OFFLINE_EVENTS) + "\n"),
]  # fmt: skip


def _error_example(status: int, code: str, message: str) -> OpenApiExample:
    return OpenApiExample(f"error {code}", value={"error": code, "message": message}, response_only=True,
                          status_codes=[str(status)])  # fmt: skip


ANSWER_EXAMPLES = [
    OpenApiExample("ids of the event", response_only=True, status_codes=["200"],
                   value={"deviceId": "5d0c8f9e2a7b41c3a6f1e0d2c4b8a9f7", "sessionId": "k3JzQ2xvY2tzLWFuZC1z"}),
    OpenApiExample("accepted with one row rejected", response_only=True, status_codes=["202"],
                   value={"accepted": 2, "rejected": [{"index": 2, "reason": "validation", "code": "invalid_field",
                                                       "error": "payload.name: this field may not be blank"}]}),
    OpenApiExample("accepted with the device clock corrected", response_only=True, status_codes=["202"],
                   value={"accepted": 3, "rejected": [], "clockSkewMs": -172_800_000}),
    OpenApiExample("a crawler nothing stored", response_only=True, status_codes=["202"],
                   value={"bot": {"name": "Googlebot"}}),
    _error_example(400, "invalid_json", "the body is not valid JSON: unexpected character at line 1 column 2"),
    _error_example(400, "validation", "payload.name: this field may not be blank"),
    _error_example(400, "invalid_encoding", "the gzip body is corrupt or truncated"),
    _error_example(400, "invalid_sent_at", "sentAt: invalid time; send ISO-8601 or epoch milliseconds"),
    _error_example(401, "unauthorized", "wrong client secret"),
    _error_example(404, "unknown_profile", "payload.profileId: unknown profile 'user-404'"),
    _error_example(413, "payload_too_large", "a single event body is limited to 1048576 bytes"),
    _error_example(415, "unsupported_media_type", "unsupported Content-Type; send application/json"),
    _error_example(503, "unavailable", "the event queue is unavailable; nothing was accepted, retry later"),
]  # fmt: skip


def _answers(*statuses: str) -> list[OpenApiExample]:
    return [example for example in ANSWER_EXAMPLES if set(example.status_codes or ()) & set(statuses)]


track_schema = extend_schema(
    operation_id="track",
    summary="Send one event, or a batch as {type: batch}",
    description="The OpenPanel SDKs' endpoint. A single event is answered 200 with the device and session ids "
    "(404 for an increment or decrement of an unknown profile); `{\"type\": \"batch\", \"payload\": [...]}` is "
    "answered like `POST /track/batch`. Also served as `/api/track`. `Content-Encoding: gzip` is accepted.",
    request={"application/json": TRACK_REQUEST},
    parameters=[RETRY_AFTER],
    responses={
        200: SingleAnswerSerializer,
        202: OpenApiResponse(ACCEPTED, description="A batch: the accepted count and rejected rows; or a crawler's."),
        **ERRORS,
    },
    examples=[*TRACK_EXAMPLES, *_answers("200", "202", "400", "401", "404", "413", "415", "503")],
    auth=CREDENTIALS,
    tags=["ingestion"],
)

batch_schema = extend_schema(
    operation_id="track_batch",
    summary="Send up to 2000 events",
    description="Each row is validated on its own: the answer lists the rows it rejected, by index, and the "
    "others are queued. JSON `{\"events\": [...]}` or NDJSON (one event per line). Also served as "
    "`/api/track/batch`. `Content-Encoding: gzip` is accepted. A device whose clock may be wrong says when it "
    "sent the batch (`sentAt` in the envelope, or the `spool-sent-at` header): its event times are corrected "
    "by the difference with the server's clock when it exceeds 10 s.",
    request={
        "application/json": BatchEnvelopeSerializer,
        "application/x-ndjson": {"type": "string", "description": "One event (a JSON object) per line."},
    },
    parameters=[SENT_AT, RETRY_AFTER],
    responses={
        202: OpenApiResponse(ACCEPTED, description="Accepted count and rejected rows."),
        **{status: answer for status, answer in ERRORS.items() if status != 404},
    },
    examples=[*BATCH_EXAMPLES, *_answers("202", "400", "401", "413", "415", "503")],
    auth=CREDENTIALS,
    tags=["ingestion"],
)

device_id_schema = extend_schema(
    operation_id="track_device_id",
    summary="The ids the server would give this caller now",
    parameters=[RETRY_AFTER],
    responses={200: IdsAnswerSerializer, 401: ERRORS[401], 503: _error(errors.documented(503, "unavailable"))},
    auth=CREDENTIALS,
    tags=["ingestion"],
)

health_schema = extend_schema(
    operation_id="healthz",
    summary="Do the database, Redis and ClickHouse answer?",
    responses={
        200: HealthSerializer,
        503: OpenApiResponse(HealthSerializer, description="`message` and `checks` name what does not answer."),
    },
    auth=[],
    tags=["operations"],
)


class LiveSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="Always `ok`.")


ready_schema = extend_schema(
    operation_id="readyz",
    summary="Can this process accept events? (the database and Redis answer)",
    description="For load balancers and orchestrators. ClickHouse is not checked: while it is away, events "
    "wait in Redis and are stored once it is back, so a ClickHouse outage never fails this probe.",
    responses={
        200: ReadySerializer,
        503: OpenApiResponse(ReadySerializer, description="`message` and `checks` name what does not answer."),
    },
    auth=[],
    tags=["operations"],
)

live_schema = extend_schema(
    operation_id="livez",
    summary="Does the process answer? (calls nothing outside it)",
    responses={200: LiveSerializer},
    auth=[],
    tags=["operations"],
)


def without_api_prefix(endpoints: list[tuple], **kwargs: Any) -> list[tuple]:
    """Preprocessing hook: `/api/track...` repeats `/track...` (said in the description), once is enough."""
    return [endpoint for endpoint in endpoints if not endpoint[0].startswith("/api/")]



BAD_ITEM = {"description": "Anything else: rejected on its own (listed in `rejected` by index); the others go on."}


def finish_schema(result: dict, **kwargs: Any) -> dict:
    """Postprocessing hook: the credential headers as security schemes (the views check them
    themselves); batch items as the API takes them: each should be an Event, and one that is not
    fails alone, not the request (contract §4); and request bodies as required."""
    components = result.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    schemas = components.get("schemas", {})
    for name, field in (("BatchEnvelope", "events"), ("BatchEvent", "payload")):
        items = schemas[name]["properties"][field]["items"]
        schemas[name]["properties"][field]["items"] = {"anyOf": [items, BAD_ITEM]}
    for operations in result["paths"].values():
        for operation in operations.values():
            if "requestBody" in operation:
                operation["requestBody"]["required"] = True  # an empty body is `invalid_json`
    return result
