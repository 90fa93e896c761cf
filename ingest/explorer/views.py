"""The events explorer (admin): the latest events of a project (by arrival or by event time) with
filters, their count, hourly volume and a live mode; one event with every column; the event-name
catalogue; one session in order; one profile. Read from ClickHouse (storage/clickhouse/queries/explorer.py); a slow or
absent ClickHouse is a message on the page, never a 500. A user sees only
projects.access.visible_projects."""
import json
import logging
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.contrib import admin
from django.http import QueryDict
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from redis.exceptions import RedisError

from ingest.explorer.filters import LIMITS, MAX_DAYS, RANGES, VIEWS, Chosen, choose
from projects.access import visible_projects
from storage.clickhouse.queries import erasure
from storage.clickhouse.queries import explorer as explore

logger = logging.getLogger(__name__)
LIVE_SECONDS = 3  # how often live mode asks for new events
SESSION_DAYS_AROUND = 1


class Unreadable(Exception):
    """A store did not answer; the message says which, for the page."""


def _project(request, project_id: str):
    return get_object_or_404(visible_projects(request.user), pk=project_id)


def _page(request, template: str, title: str, **context) -> TemplateResponse:
    return TemplateResponse(request, template, {**admin.site.each_context(request), "title": title, **context})


def _hidden(project_id: str) -> tuple[str, ...]:
    try:
        return tuple(erasure.erased_profiles(project_id))
    except RedisError as error:
        # Without the list, erased rows not yet removed by ClickHouse could show: show nothing instead.
        raise Unreadable(f"Redis does not answer ({type(error).__name__}); events are not shown") from error


def _read(read, *args):
    """`read(*args)` of storage/explore.py; any failure of ClickHouse (down, slow, refusing) is a
    message, not a 500."""
    try:
        return read(*args)
    except Exception as error:
        logger.warning("explorer: ClickHouse query failed: %s", error)
        raise Unreadable(
            f"ClickHouse does not answer ({type(error).__name__}). Events keep arriving and wait in Redis; "
            "they show here once ClickHouse is back."
        ) from error


def _query(project, chosen: Chosen, hidden: tuple[str, ...]) -> explore.Query:
    return explore.Query(
        project.id, chosen.since, chosen.until, chosen.filters, hidden, chosen.limit, by=chosen.by,
        backfill_days=project.backfill_days, property_filter=chosen.property_filter,
    )  # fmt: skip


def _chart(volume: explore.Volume) -> dict:
    """What static/spool/volume.js draws: a time axis and a series per event name."""
    return {"step": volume.step, "starts": volume.starts, "series": volume.series}


def projects(request):
    return _page(request, "admin/spool/projects.html", "Events explorer",
                 projects=visible_projects(request.user).order_by("name"))  # fmt: skip


def events(request, project_id: str):
    project = _project(request, project_id)
    chosen = choose(request.GET, datetime.now(UTC))
    fragment = bool(request.GET.get("fragment"))  # live mode: only the table body
    rows, error, total, chart = [], "", None, None
    try:
        query = _query(project, chosen, _hidden(project.id))
        rows = _read(explore.events, query)
        if not fragment:
            total = _read(explore.count, query)
            chart = _chart(_read(explore.volume, query))
    except Unreadable as problem:
        error = str(problem)
    context = {"project": project, "rows": rows, "error": error, "chosen": chosen}
    if fragment:
        return TemplateResponse(request, "admin/spool/event_rows.html", context)
    live = QueryDict(mutable=True)
    live.update({key: value for key, value in request.GET.items() if key != "live"})
    return _page(
        request, "admin/spool/events.html", f"Events of {project.name}", **context,
        ranges=list(RANGES), limits=LIMITS, params=request.GET, live=request.GET.get("live") == "1",
        live_seconds=LIVE_SECONDS, query_string=live.urlencode(), total=total, chart=chart,
        views=_view_links(request.GET, chosen.view),
    )  # fmt: skip


def _view_links(params, current: str) -> list[dict]:
    """The view tabs (arrived, event time), each keeping the other parameters."""
    links = []
    for view in VIEWS:
        query = QueryDict(mutable=True)
        query.update({key: value for key, value in params.items() if key not in ("view", "live")})
        query["view"] = view
        links.append({"view": view, "query": query.urlencode(), "current": view == current})
    return links


def _day_range(text: str, now: datetime) -> tuple[datetime, datetime]:
    """A day ± SESSION_DAYS_AROUND from `?day=`, or the last MAX_DAYS days when it says none."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return now - timedelta(days=MAX_DAYS), now + timedelta(days=1)
    since = datetime.combine(day - timedelta(days=SESSION_DAYS_AROUND), datetime.min.time(), tzinfo=UTC)
    return since, since + timedelta(days=2 * SESSION_DAYS_AROUND + 1)


def _shown(value):
    """A stored value as the detail page's JSON shows it: times in ISO, UUIDs and the rest as text."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, list | tuple):
        return [_shown(item) for item in value]
    return value if value is None or isinstance(value, int | float | str) else str(value)


def event(request, project_id: str, event_id):
    project = _project(request, project_id)
    since, until = _day_range(request.GET.get("day", ""), datetime.now(UTC))
    stored, error = None, ""
    try:
        stored = _read(explore.event, project.id, str(event_id), since, until, _hidden(project.id))
    except Unreadable as problem:
        error = str(problem)
    context = {"project": project, "error": error, "event_id": event_id, "stored": None}
    if stored is not None:
        shown = {column: _shown(value) for column, value in stored.items()}
        columns = [(column, value) for column, value in shown.items() if not column.startswith("properties.")]
        context.update(
            stored=shown, columns=columns,
            properties=list(zip(shown["properties.key"], shown["properties.value"])),
            raw=json.dumps(shown, indent=2, ensure_ascii=False), day=stored["created_at"].strftime("%Y-%m-%d"),
        )  # fmt: skip
    return _page(request, "admin/spool/event.html", f"Event {event_id}", **context)


def names(request, project_id: str):
    project = _project(request, project_id)
    rows, error = [], ""
    try:
        rows = _read(explore.catalogue, project.id, _hidden(project.id))
    except Unreadable as problem:
        error = str(problem)
    return _page(request, "admin/spool/names.html", f"Event names of {project.name}", project=project,
                 rows=rows, error=error)  # fmt: skip


def _session_summary(rows: list[dict]) -> dict:
    """Start, end, duration and bounce of a session from its rows (its end row, once written).
    Server events (device "server": a server or a stock HTTP client sent them) get no session rows."""
    start = next((row for row in rows if row["name"] == "session_start"), None)
    end = next((row for row in rows if row["name"] == "session_end"), None)
    inside = [row for row in rows if row["name"] not in ("session_start", "session_end")]
    server = start is None and bool(inside) and all(row["device"] == "server" for row in inside)
    if end is not None:
        duration_ms, bounce = end["duration"], end["properties"].get("__bounce") == "1"
    else:
        duration_ms = inside[-1]["ms"] - inside[0]["ms"] if inside else 0
        bounce = sum(1 for row in inside if row["name"] == "screen_view") <= 1
    return {"start": start, "end": end, "events": len(inside), "duration": timedelta(milliseconds=duration_ms),
            "bounce": bounce, "ended": end is not None, "server": server,
            "timeout": _minutes(settings.SESSION_TIMEOUT_SECONDS)}  # fmt: skip


def _minutes(seconds: int) -> str:
    return f"{seconds // 60} minutes" if seconds % 60 == 0 else f"{seconds} seconds"


def session(request, project_id: str, session_id: str):
    project = _project(request, project_id)
    since, until = _day_range(request.GET.get("day", ""), datetime.now(UTC))
    rows, error = [], ""
    try:
        query = explore.Query(project.id, since, until, (("session_id", session_id),), _hidden(project.id),
                              limit=explore.MAX_ROWS, oldest_first=True)  # fmt: skip
        rows = _read(explore.events, query)
    except Unreadable as problem:
        error = str(problem)
    return _page(request, "admin/spool/session.html", f"Session {session_id}", project=project, rows=rows,
                 error=error, session_id=session_id, summary=_session_summary(rows) if rows else None)  # fmt: skip


def profile(request, project_id: str, profile_id: str):
    project = _project(request, project_id)
    params = request.GET.copy()
    params.setdefault("range", "30d")
    chosen = choose(params, datetime.now(UTC))
    document, rows, error, erased = None, [], "", False
    try:
        hidden = _hidden(project.id)
        erased = profile_id in hidden
        if not erased:
            document = _read(explore.profile, project.id, profile_id)
            filters = (("profile_id", profile_id),)
            query = explore.Query(project.id, chosen.since, chosen.until, filters, hidden, chosen.limit)
            rows = _read(explore.events, query)
    except Unreadable as problem:
        error = str(problem)
    return _page(request, "admin/spool/profile.html", f"Profile {profile_id}", project=project, rows=rows,
                 error=error, profile_id=profile_id, document=document, erased=erased, chosen=chosen)  # fmt: skip
