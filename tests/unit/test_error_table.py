"""Every error answer comes from one table (ingest/api/errors.py)."""
import pytest
from rest_framework import exceptions as drf

from ingest.api import errors
from ingest.api.wire import InvalidEncoding, PayloadTooLarge, UnsupportedEncoding
from ingest.pipeline.accept import ServiceUnavailable, UnknownProfile
from ingest.pipeline.decode import InvalidJSON
from ingest.pipeline.serializers import ItemError
from projects.auth import Unauthorized


@pytest.mark.parametrize(
    "exc, status, code",
    [
        (InvalidJSON("x"), 400, "invalid_json"),
        (errors.InvalidEnvelope("x"), 400, "invalid_batch"),
        (errors.InvalidSentAt("x"), 400, "invalid_sent_at"),
        (InvalidEncoding("x"), 400, "invalid_encoding"),
        (ItemError("payload.name: x"), 400, "validation"),
        (Unauthorized("x"), 401, "unauthorized"),
        (UnknownProfile("x"), 404, "unknown_profile"),
        (PayloadTooLarge("x"), 413, "payload_too_large"),
        (UnsupportedEncoding("x"), 415, "unsupported_media_type"),
        (drf.UnsupportedMediaType("text/plain"), 415, "unsupported_media_type"),
        (ServiceUnavailable("x"), 503, "unavailable"),
        (drf.MethodNotAllowed("PUT"), 405, "method_not_allowed"),
        (drf.Throttled(3), 429, "throttled"),
    ],
)
def test_each_exception_has_one_answer(exc, status, code):
    answer = errors.answer_for(exc)
    assert (answer.status, answer.code) == (status, code)


def test_an_unexpected_exception_has_no_answer_of_its_own():
    assert errors.answer_for(KeyError("x")) is None


def test_the_queue_being_away_asks_the_client_to_come_back():
    assert errors.answer_for(ServiceUnavailable("x")).retry_after == errors.RETRY_AFTER_SECONDS


def test_answers_that_django_makes_itself():
    assert errors.for_status(404).code == "not_found"
    assert errors.for_status(418).code == "error"


def test_the_openapi_description_lists_the_codes_of_a_status():
    text = errors.documented(400)
    assert "`invalid_json`" in text and "`invalid_encoding`" in text and "`validation`" in text
    assert "`unavailable`" in errors.documented(503) and "does not answer" not in errors.documented(503)
