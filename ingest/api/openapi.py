"""The OpenAPI description of the API (drf-spectacular): request and answer shapes, security
schemes, and one `extend_schema` per view. Shapes only: validation lives in ingest/pipeline/serializers.py,
and the error answers come from the table in ingest/api/errors.py.
"""
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


EVENT_TYPES = {
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
CREDENTIALS = [{CLIENT_ID: [], CLIENT_SECRET: []}, {CLIENT_ID: []}]

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


class BatchEnvelopeSerializer(serializers.Serializer):
    events = EventListField(min_length=1, max_length=settings.MAX_BATCH_EVENTS)


class BatchEventSerializer(serializers.Serializer):
    """A batch sent to `POST /track`: `{"type": "batch", "payload": [...]}`."""

    type = serializers.ChoiceField(choices=["batch"])
    payload = EventListField(min_length=1, max_length=settings.MAX_BATCH_EVENTS)


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
    error = serializers.CharField(help_text="The field path and the problem, e.g. `payload.name: ...`.")
    code = serializers.CharField(required=False)


class BatchAnswerSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(min_value=0, help_text="Rows durably queued.")
    rejected = RejectionSerializer(many=True)


class BotNameSerializer(serializers.Serializer):
    name = serializers.CharField()


class BotAnswerSerializer(serializers.Serializer):
    """A crawler's request: answered, nothing stored."""

    bot = BotNameSerializer()


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="A code, e.g. `invalid_json`, `unauthorized`, `validation`.")
    message = serializers.CharField()


class HealthChecksSerializer(serializers.Serializer):
    database = serializers.CharField(help_text="`ok`, or `error: <kind>`")
    redis = serializers.CharField()
    clickhouse = serializers.CharField()


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "unavailable"])
    checks = HealthChecksSerializer()
    error = serializers.CharField(required=False, help_text="On 503 only.")
    message = serializers.CharField(required=False, help_text="On 503 only: the systems not answering.")


ACCEPTED = PolymorphicProxySerializer(
    component_name="Accepted", serializers=[BatchAnswerSerializer, BotAnswerSerializer], resource_type_field_name=None
)
RETRY_AFTER = OpenApiParameter(
    "Retry-After", int, OpenApiParameter.HEADER, description="Seconds to wait before retrying.", response=[429, 503]
)


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


# In status order; 404 is /track's own. Each lists its `error` codes (ingest/api/errors.py).
ERRORS = {status: _error(errors.documented(status)) for status in (400, 401, 404, 413, 415, 429, 503)}
BATCH_EXAMPLE = OpenApiExample(
    "two events",
    value={
        "events": [
            {"type": "track", "payload": {"name": "app_open", "properties": {"__timestamp": "2025-06-01T08:03:05Z"}}},
            {"type": "identify", "payload": {"profileId": "user-1", "email": "ada@example.com"}},
        ]
    },
    request_only=True,
)

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
    auth=CREDENTIALS,
    tags=["ingestion"],
)

batch_schema = extend_schema(
    operation_id="track_batch",
    summary="Send up to 2000 events",
    description="Each row is validated on its own: the answer lists the rows it rejected, by index, and the "
    "others are queued. JSON `{\"events\": [...]}` or NDJSON (one event per line). Also served as "
    "`/api/track/batch`. `Content-Encoding: gzip` is accepted.",
    request={
        "application/json": BatchEnvelopeSerializer,
        "application/x-ndjson": {"type": "string", "description": "One event (a JSON object) per line."},
    },
    parameters=[RETRY_AFTER],
    responses={
        202: OpenApiResponse(ACCEPTED, description="Accepted count and rejected rows."),
        **{status: answer for status, answer in ERRORS.items() if status != 404},
    },
    examples=[BATCH_EXAMPLE],
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


def without_api_prefix(endpoints, **kwargs):
    """Preprocessing hook: `/api/track...` repeats `/track...` (said in the description), once is enough."""
    return [endpoint for endpoint in endpoints if not endpoint[0].startswith("/api/")]



BAD_ITEM = {"description": "Anything else: rejected on its own (listed in `rejected` by index); the others go on."}


def finish_schema(result, **kwargs):
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
