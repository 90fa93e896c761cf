"""The session rules operators set (SESSION_TIMEOUT_SECONDS, SESSION_WINDOW_SECONDS), in milliseconds,
and what a session keeps of where it came from. Read here, wherever they are used."""
from django.conf import settings

from contract import messages

# Where a session came from, as its earliest event had it: written on its end row, inherited by
# server events of its profile (taken from its stored start row: sessions_app/starts.py).
REFERRAL = ("origin", "referrer", "referrer_name", "referrer_type")
GEO = messages.GEO
AGENT = messages.AGENT
SDK = ("sdk_name", "sdk_version")
CONTEXT_COLUMNS = (*REFERRAL, *GEO, *AGENT, *SDK)


def context(columns: dict) -> dict:
    """A session's context from columns of the events table: REFERRAL and SDK as they are, `geo` and
    `agent` as the request context's dicts (contract.messages.JobContext)."""
    found = {column: columns[column] for column in (*REFERRAL, *SDK)}
    found["geo"] = {column: columns[column] for column in GEO}
    found["agent"] = {column: columns[column] for column in AGENT}
    return found


def timeout_ms() -> int:
    return settings.SESSION_TIMEOUT_SECONDS * 1000


def window_ms() -> int:
    return settings.SESSION_WINDOW_SECONDS * 1000
