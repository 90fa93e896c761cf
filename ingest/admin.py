"""Admin for rejected-row samples: what was refused, why, and the row as it was sent."""
import json
from datetime import UTC, date, datetime, time, timedelta

from django.contrib import admin, messages
from django.utils.html import format_html
from redis.exceptions import RedisError

from ingest.models import RejectedSample
from ingest.worker import rejected_samples
from projects.access import MemberAccess

# The index links the events explorer and the ingestion health page (ingest/explorer/).
admin.site.index_template = "admin/spool_index.html"


class DayFilter(admin.SimpleListFilter):
    title = "day (UTC)"
    parameter_name = "day"

    def lookups(self, request, model_admin):
        days = model_admin.get_queryset(request).dates("received_at", "day", order="DESC")[:31]
        return [(day.isoformat(), day.isoformat()) for day in days]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            start = datetime.combine(date.fromisoformat(self.value()), time.min, tzinfo=UTC)
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

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        # Samples reach the database every 30 s (a periodic job); opening the list moves them at once.
        try:
            rejected_samples.store_samples()
        except RedisError as error:
            self.message_user(
                request, f"Samples waiting in Redis could not be read ({type(error).__name__}).", messages.WARNING
            )
        return super().changelist_view(request, extra_context)

    @admin.display(description="error")
    def short_error(self, obj):
        return obj.error if len(obj.error) <= 120 else obj.error[:119] + "…"

    @admin.display(description="SDK")
    def sdk(self, obj):
        return f"{obj.sdk_name} {obj.sdk_version}".strip()

    @admin.display(description="row as sent")
    def formatted_item(self, obj):
        try:
            text = json.dumps(json.loads(obj.item), indent=2, ensure_ascii=False)
        except (ValueError, RecursionError):
            text = obj.item  # not JSON, cut at 8 KiB, or nested too deeply to indent: shown as it is
        note = " (cut at 8 KiB)" if obj.truncated else ""
        return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>{}', text, note)
