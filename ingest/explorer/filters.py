"""The explorer's query string → a bounded storage.clickhouse.queries.explorer.Query (pure; the clock is a parameter).

View: `view=arrived` (the default: what came in during the range, whatever its event time: an offline
device's drain of 2-day-old events shows at once) or `view=event` (what happened during the range).
Time range: `range` (1h, 24h, 7d, 30d, 90d) or `since` / `until` (ISO dates or times, UTC), at most
MAX_DAYS wide. Filters: name, device_id, profile_id, session_id (exact values), and `property`:
`key=value` (exact) or `key` (the event has the property)."""
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from storage.clickhouse.queries.explorer import ARRIVED, EVENT_TIME, FILTERS

RANGES = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30),
          "90d": timedelta(days=90)}  # fmt: skip
DEFAULT_RANGE = "24h"
MAX_DAYS = 400
LIMITS = (50, 100, 200, 500, 1000)
FUTURE_SLACK = timedelta(minutes=5)  # event times may run a little ahead of this server's clock
VIEWS = {"arrived": ARRIVED, "event": EVENT_TIME}
DEFAULT_VIEW = "arrived"


@dataclass
class Chosen:
    since: datetime
    until: datetime
    range: str  # a key of RANGES, or "" for since/until
    filters: tuple[tuple[str, str], ...]
    limit: int
    errors: list[str]
    view: str = DEFAULT_VIEW  # a key of VIEWS
    property_filter: tuple[str, str | None] | None = None

    @property
    def by(self) -> str:
        return VIEWS[self.view]


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _property(text: str) -> tuple[str, str | None] | None:
    key, equals, value = text.strip().partition("=")
    if not key.strip():
        return None
    return (key.strip(), value if equals else None)


def choose(params, now: datetime) -> Chosen:
    chosen = _choose_range(params, now)
    chosen.view = params.get("view") if params.get("view") in VIEWS else DEFAULT_VIEW
    chosen.property_filter = _property(params.get("property", ""))
    return chosen


def _choose_range(params, now: datetime) -> Chosen:
    errors: list[str] = []
    filters = tuple((name, params[name].strip()) for name in FILTERS if params.get(name, "").strip())
    try:
        limit = int(params.get("limit") or 100)
    except ValueError:
        limit = 100
        errors.append("limit: a number, one of " + ", ".join(map(str, LIMITS)))
    limit = min(LIMITS, key=lambda allowed: abs(allowed - limit))
    if params.get("since") or params.get("until"):
        try:
            since = _moment(params["since"]) if params.get("since") else now - RANGES[DEFAULT_RANGE]
            until = _moment(params["until"]) if params.get("until") else now + FUTURE_SLACK
            if until <= since:
                raise ValueError("until must be after since")
            if until - since > timedelta(days=MAX_DAYS):
                raise ValueError(f"at most {MAX_DAYS} days at a time")
            return Chosen(since, until, "", filters, limit, errors)
        except ValueError as error:
            errors.append(f"time range: {error}; showing the last 24 hours")
    chosen = params.get("range") if params.get("range") in RANGES else DEFAULT_RANGE
    return Chosen(now - RANGES[chosen], now + FUTURE_SLACK, chosen, filters, limit, errors)
