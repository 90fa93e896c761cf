"""The events explorer (admin): the latest events of a project with filters and a live mode, one
session in order, one profile. Read from ClickHouse (storage/clickhouse/queries/explorer.py); a slow or absent
ClickHouse is a message on the page, never a 500. A user sees only projects.access.visible_projects."""
import logging
from datetime import UTC, date, datetime, timedelta

from django.contrib import admin
from django.http import QueryDict
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from redis.exceptions import RedisError

from ingest.explorer.filters import LIMITS, RANGES, choose
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


def _read(query: explore.Query) -> list[dict]:
    try:
        return explore.events(query)
    except Exception as error:  # any failure of ClickHouse (down, slow, refusing) is a message, not a 500
        logger.warning("explorer: ClickHouse query failed: %s", error)
        raise Unreadable(
            f"ClickHouse does not answer ({type(error).__name__}). Events keep arriving and wait in Redis; "
            "they show here once ClickHouse is back."
        ) from error


def projects(request):
    return _page(request, "admin/spool/projects.html", "Events explorer",
                 projects=visible_projects(request.user).order_by("name"))  # fmt: skip


def events(request, project_id: str):
    project = _project(request, project_id)
    chosen = choose(request.GET, datetime.now(UTC))
    rows, error = [], ""
    try:
        hidden = _hidden(project.id)
        rows = _read(explore.Query(project.id, chosen.since, chosen.until, chosen.filters, hidden, chosen.limit))
    except Unreadable as problem:
        error = str(problem)
    context = {"project": project, "rows": rows, "error": error, "chosen": chosen}
    if request.GET.get("fragment"):  # live mode: only the table body
        return TemplateResponse(request, "admin/spool/event_rows.html", context)
    live = QueryDict(mutable=True)
    live.update({key: value for key, value in request.GET.items() if key != "live"})
    return _page(
        request, "admin/spool/events.html", f"Events of {project.name}", **context,
        ranges=list(RANGES), limits=LIMITS, params=request.GET, live=request.GET.get("live") == "1",
        live_seconds=LIVE_SECONDS, query_string=live.urlencode(),
    )  # fmt: skip


def _session_summary(rows: list[dict]) -> dict:
    """Start, end, duration and bounce of a session from its rows (its end row, once written)."""
    start = next((row for row in rows if row["name"] == "session_start"), None)
    end = next((row for row in rows if row["name"] == "session_end"), None)
    inside = [row for row in rows if row["name"] not in ("session_start", "session_end")]
    if end is not None:
        duration_ms, bounce = end["duration"], end["properties"].get("__bounce") == "1"
    else:
        duration_ms = inside[-1]["ms"] - inside[0]["ms"] if inside else 0
        bounce = sum(1 for row in inside if row["name"] == "screen_view") <= 1
    return {"start": start, "end": end, "events": len(inside), "duration": timedelta(milliseconds=duration_ms),
            "bounce": bounce, "ended": end is not None}  # fmt: skip


def session(request, project_id: str, session_id: str):
    project = _project(request, project_id)
    now = datetime.now(UTC)
    try:
        day = date.fromisoformat(request.GET.get("day", ""))
        since = datetime.combine(day - timedelta(days=SESSION_DAYS_AROUND), datetime.min.time(), tzinfo=UTC)
        until = since + timedelta(days=2 * SESSION_DAYS_AROUND + 1)
    except ValueError:
        since, until = now - timedelta(days=30), now + timedelta(minutes=5)
    rows, error = [], ""
    try:
        query = explore.Query(project.id, since, until, (("session_id", session_id),), _hidden(project.id),
                              limit=explore.MAX_ROWS, oldest_first=True)  # fmt: skip
        rows = _read(query)
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
            try:
                document = explore.profile(project.id, profile_id)
            except Exception as failure:
                raise Unreadable(f"ClickHouse does not answer ({type(failure).__name__})") from failure
            filters = (("profile_id", profile_id),)
            rows = _read(explore.Query(project.id, chosen.since, chosen.until, filters, hidden, chosen.limit))
    except Unreadable as problem:
        error = str(problem)
    return _page(request, "admin/spool/profile.html", f"Profile {profile_id}", project=project, rows=rows,
                 error=error, profile_id=profile_id, document=document, erased=erased, chosen=chosen)  # fmt: skip
