"""The session rules operators set (SESSION_TIMEOUT_SECONDS, SESSION_WINDOW_SECONDS), in milliseconds,
and what a session keeps of where it came from. Read here, wherever they are used."""
from django.conf import settings

# Where a session came from: kept from its first event, written on its end row, inherited by
# server events of its profile.
REFERRAL = ("origin", "referrer", "referrer_name", "referrer_type")


def timeout_ms() -> int:
    return settings.SESSION_TIMEOUT_SECONDS * 1000


def window_ms() -> int:
    return settings.SESSION_WINDOW_SECONDS * 1000


def state_ttl_ms() -> int:
    # Long enough to outlive a sweep outage; the sweep deletes the state once the end is written.
    return max(timeout_ms(), window_ms()) + 7 * 86_400_000
