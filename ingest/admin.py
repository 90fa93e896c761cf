"""Admin for rejected-row samples: what was refused, why, and the row as it was sent."""
import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from redis.exceptions import RedisError

from ingest.models import RejectedSample
from ingest.worker import rejected_samples
from projects.access import MemberAccess, is_project_admin, visible_projects
from storage.queue import poison

SHOWN_PER_SOURCE = 200
# A project admin's view reads the oldest items of each list to find their projects' own: at most
# this many per source, so that a list of a million items costs a page view no more than 2,000.
SCANNED_PER_SOURCE = 2_000


def set_aside_for(user: Any) -> tuple[dict[str, int], list, bool]:
    """What the worker set aside that `user` may see (projects/access.py's rule): (count per source,
    the oldest items, whether the counts cover every list). A superuser sees all of it; a project
    admin only items of their projects (they hold what users sent), never an item of no project."""
    if user.is_superuser:
        entries = [entry for source in poison.SOURCES for entry in poison.listed(source, SHOWN_PER_SOURCE)]
        return poison.counts(), entries, True
    mine = set(visible_projects(user).values_list("id", flat=True))
    counts, entries, complete = {}, [], True
    for source in poison.SOURCES:
        found, counts[source], whole = poison.listed_from(source, mine, SHOWN_PER_SOURCE, SCANNED_PER_SOURCE)
        entries += found
        complete = complete and whole
    return counts, entries, complete


class DayFilter(admin.SimpleListFilter):
    title = "day (UTC)"
    parameter_name = "day"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        days = model_admin.get_queryset(request).dates("received_at", "day", order="DESC")[:31]
        return [(day.isoformat(), day.isoformat()) for day in days]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if not value:
            return queryset
        try:
            start = datetime.combine(date.fromisoformat(value), time.min, tzinfo=UTC)
        except ValueError:
            return queryset.none()
        return queryset.filter(received_at__gte=start, received_at__lt=start + timedelta(days=1))


@admin.register(RejectedSample)
class RejectedSampleAdmin(MemberAccess, admin.ModelAdmin):
    """A project's admins see its rejected rows only (they hold what users sent: emails, IPs)."""

    members_may_delete = True
    list_display = ("received_at", "project", "reason", "code", "index", "short_error", "sdk")
    list_filter = (("project", admin.RelatedOnlyFieldListFilter), "reason", "code", DayFilter)
    search_fields = ("error",)
    list_select_related = ("project",)
    fields = ("project", "received_at", "index", "reason", "code", "error", "sdk_name", "sdk_version", "formatted_item")
    readonly_fields = fields

    class Media:
        css = {"all": ("spool/admin.css",)}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: RejectedSample | None = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        # Samples reach the database every 30 s (a periodic job); opening the list moves them at once.
        try:
            rejected_samples.store_samples()
            waiting = sum(set_aside_for(request.user)[0].values())
        except RedisError as error:
            self.message_user(
                request, f"Samples waiting in Redis could not be read ({type(error).__name__}).", messages.WARNING
            )
            waiting = 0
        if waiting:
            plural = "" if waiting == 1 else "s"
            link = reverse("admin:ingest_set_aside")
            notice = format_html('{} item{} set aside by the worker: <a href="{}">see them</a>', waiting, plural, link)
            self.message_user(request, notice, messages.WARNING)
        return super().changelist_view(request, extra_context)

    def get_urls(self) -> list[URLPattern]:
        own = [path("set-aside/", self.admin_site.admin_view(self.set_aside_view), name="ingest_set_aside")]
        return own + super().get_urls()

    def set_aside_view(self, request: HttpRequest) -> TemplateResponse:
        """What the worker set aside (storage/queue/poison.py): counts per source and the oldest items."""
        if not request.user.is_superuser and not is_project_admin(request.user):
            raise PermissionDenied("the set-aside items are for the admins of their projects")
        context = {**self.admin_site.each_context(request), "title": "Set aside by the worker", "entries": []}
        try:
            counts, entries, context["complete"] = set_aside_for(request.user)
        except RedisError as error:
            counts, entries = {}, []
            context["error"] = f"Redis does not answer ({type(error).__name__})."
        context["counts"] = list(counts.items())
        context["scanned"] = SCANNED_PER_SOURCE
        for entry in entries:
            item = entry["item"] if len(entry["item"]) <= 2000 else entry["item"][:1999] + "…"
            at = datetime.fromtimestamp(entry["at_ms"] / 1000, tz=UTC).isoformat(timespec="seconds")
            context["entries"].append({**entry, "item": item, "at": at})
        return TemplateResponse(request, "admin/ingest/set_aside.html", context)

    @admin.display(description="error")
    def short_error(self, obj: RejectedSample) -> str:
        return obj.error if len(obj.error) <= 120 else obj.error[:119] + "…"

    @admin.display(description="SDK")
    def sdk(self, obj: RejectedSample) -> str:
        return f"{obj.sdk_name} {obj.sdk_version}".strip()

    @admin.display(description="row as sent")
    def formatted_item(self, obj: RejectedSample) -> str:
        try:
            text = json.dumps(json.loads(obj.item), indent=2, ensure_ascii=False)
        except (ValueError, RecursionError):
            text = obj.item  # not JSON, cut at 8 KiB, or nested too deeply to indent: shown as it is
        note = " (cut at 8 KiB)" if obj.truncated else ""
        return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>{}', text, note)
