"""The machine-readable code of every rejected row (contract §4 r2): the one list, with each code's
reason and what it means. The answer's rows, the counters, the samples and the OpenAPI read it."""
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Code:
    name: str
    reason: str  # "validation": the row is wrong, do not resend it as it is; "internal": retry it
    meaning: str


_CODES = (
    Code("invalid_json", "validation", "an NDJSON line (or a replayed row) that is not JSON"),
    Code("invalid_event", "validation", "not an object with `type` and `payload`, or a batch inside a batch"),
    Code("unsupported_type", "validation", "a type Spool does not take: `alias`, `replay`, or an unknown one"),
    Code("invalid_field", "validation", "a payload field or a special property is wrong; `error` names it"),
    Code(
        "invalid_profile_id",
        "validation",
        "a profile id missing or blank where one is required, too long, with control characters, or not text",
    ),
    Code("invalid_timestamp", "validation", "`__timestamp` is not a time Spool can read"),
    Code("invalid_session_id", "validation", "`__sessionId` is not a string of 1 to 128 printable characters"),
    Code("too_old", "validation", "the event is older than the project's backfill window"),
    Code("too_large", "validation", "the event is over 64 KiB, or has more than 500 property keys"),
    Code("too_deep", "validation", "the event is nested more than 254 levels deep (the event itself is the first)"),
    Code("unknown_profile", "validation", "an increment or decrement of a profile never identified"),
    Code("queue_unavailable", "internal", "the queue refused the row; send it again"),
    Code("internal_error", "internal", "Spool failed on this row (logged with the request id); send it again"),
)
CODES = {code.name: code for code in _CODES}

INVALID_JSON = "invalid_json"
INVALID_EVENT = "invalid_event"
UNSUPPORTED_TYPE = "unsupported_type"
INVALID_FIELD = "invalid_field"
INVALID_PROFILE_ID = "invalid_profile_id"
INVALID_TIMESTAMP = "invalid_timestamp"
INVALID_SESSION_ID = "invalid_session_id"
TOO_OLD = "too_old"
TOO_LARGE = "too_large"
TOO_DEEP = "too_deep"
UNKNOWN_PROFILE = "unknown_profile"
QUEUE_UNAVAILABLE = "queue_unavailable"
INTERNAL_ERROR = "internal_error"


def reason_of(code: str) -> str:
    return CODES[code].reason
