"""Admin for projects and salts (contract §9). A client secret is shown once, on the page that answers
its creation or rotation, and is stored only as a hash (never in a message, cookie or log)."""
import hashlib

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from redis.exceptions import RedisError

from projects import activity, services
from projects.access import MemberAccess
from projects.models import Project, Salt
from storage.redis import counters

SETTINGS_FIELDS = ("name", "allowed_origins", "backfill_days", "ignore_cors_and_secret")
# What protects the service or decides who administers a project: superusers change these;
# a project's own admins see them (contract §11).
OPERATOR_FIELDS = ("active", "quota_events_per_minute", "quota_burst", "members")
# The form's labels in plain words (the model's field names are the code's).
LABELS = {
    "allowed_origins": "Allowed origins",
    "backfill_days": "Backfill window (days)",
    "ignore_cors_and_secret": "Accept any request with the client id (no origin or secret check)",
    "active": "Active (accepts events)",
    "quota_events_per_minute": "Quota (events a minute)",
    "quota_burst": "Burst (events above the quota at once)",
    "members": "Project admins",
}


# The admin's rotate action (contract §9 r3): at once (a leaked secret), or with a grace for the
# devices in the field. `rotate_secret --grace SECONDS` takes any length.
GRACE_CHOICES = (
    ("0", "at once (the old secret leaked)"), ("3600", "1 hour"), ("86400", "1 day"), ("604800", "7 days"),
    ("2592000", "30 days"),
)  # fmt: skip


class ProjectCreateForm(forms.ModelForm):
    with_secret = forms.BooleanField(
        required=False,
        initial=True,
        label="Create a client secret",
        help_text="Servers and apps send the secret. Leave it out for a browser-only project: "
        "its requests are then checked against the allowed origins.",
    )

    class Meta:
        model = Project
        fields = SETTINGS_FIELDS


@admin.register(Project)
class ProjectAdmin(MemberAccess, admin.ModelAdmin):
    # Short columns, so that the accepted-rows columns after them fit 1366 px beside the sidebar.
    list_display = ("name", "client_id", "active", "access", "backfill", "quota", "created")
    search_fields = ("name", "id", "client_id")
    actions = ["rotate_secret", "rotate_salts"]
    readonly_fields = (
        "id", "client_id", "secret", "salts", "activity", "rejected_last_7_days", "crawlers_last_7_days", "created_at",
    )  # fmt: skip
    filter_horizontal = ("members",)
    project_field = "pk"

    def has_delete_permission(self, request, obj=None):
        # A project's events stay in ClickHouse; removing one is an operator's deliberate job, not a click.
        return False

    def has_change_permission(self, request, obj=None):
        if request.user.is_superuser:
            return super().has_change_permission(request, obj)
        return self._member_may(request, obj)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "members":
            kwargs["queryset"] = db_field.remote_field.model.objects.filter(is_staff=True, is_superuser=False)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    class Media:
        css = {"all": ("spool/admin.css",)}

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs.setdefault("labels", LABELS)  # the form's and, for read-only fields, the page's labels
        if obj is None:
            kwargs["form"] = ProjectCreateForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return (*SETTINGS_FIELDS, "with_secret")
        name, *editable = SETTINGS_FIELDS
        return (
            name, "id", "client_id", "secret", *editable, *OPERATOR_FIELDS, "salts", "activity",
            "rejected_last_7_days", "crawlers_last_7_days", "created_at",
        )  # fmt: skip

    def get_list_display(self, request):
        return (*super().get_list_display(request), *_activity_columns(request))

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return self.readonly_fields if request.user.is_superuser else (*self.readonly_fields, *OPERATOR_FIELDS)

    def save_model(self, request, obj, form, change):
        if change:
            services.save_settings(obj)
            return
        project, secret = services.create_project(
            obj.name,
            origins=obj.origins,
            backfill_days=obj.backfill_days,
            with_secret=form.cleaned_data["with_secret"],
            ignore_cors_and_secret=obj.ignore_cors_and_secret,
        )
        obj.pk = project.pk
        obj.refresh_from_db()
        if not request.user.is_superuser:
            project.members.add(request.user)  # who creates a project administers it
        request.spool_new_secret = secret  # read once by response_add, in this request only

    def response_add(self, request, obj, post_url_continue=None):
        return self._credentials_page(request, [(obj, request.spool_new_secret)], "Project created")

    def _credentials_page(self, request, pairs, title: str) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "credentials": [
                {
                    "project": project,
                    "secret": secret,
                    "url": reverse("admin:projects_project_change", args=[project.pk]),
                }
                for project, secret in pairs
            ],
            "track_url": request.build_absolute_uri("/track"),
        }
        response = TemplateResponse(request, "admin/projects/project/credentials.html", context)
        response["Cache-Control"] = "no-store"  # the page holds a secret
        return response

    @admin.action(description="Rotate the client secret", permissions=["change"])
    def rotate_secret(self, request, queryset):
        if request.POST.get("confirm") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": "Rotate client secrets?",
                "opts": self.model._meta,
                "projects": queryset,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "graces": GRACE_CHOICES,
            }
            return TemplateResponse(request, "admin/projects/project/rotate_secret.html", context)
        choice = request.POST.get("grace", "0")
        grace = int(choice) if choice in dict(GRACE_CHOICES) else 0
        pairs = [(project, services.rotate_secret(project, grace_seconds=grace)) for project in queryset]
        kept = f"; the old one is accepted for {dict(GRACE_CHOICES)[choice]}" if grace else ""
        for project, _ in pairs:
            self.log_change(request, project, f"Rotated the client secret{kept}.")
        return self._credentials_page(request, pairs, "New client secrets")

    @admin.action(description="Rotate the salts now (device ids change from now on)", permissions=["change"])
    def rotate_salts(self, request, queryset):
        count = services.rotate_salts(queryset)
        for project in queryset:
            self.log_change(request, project, "Rotated the salts.")
        self.message_user(request, f"Rotated the salts of {count} project(s).", messages.SUCCESS)

    @admin.display(description="who may send")
    def access(self, obj):
        if obj.ignore_cors_and_secret:
            return "anyone with the client id"
        ways = (["secret"] if obj.has_secret else []) + (["allowed origins"] if obj.origins else [])
        return " or ".join(ways) or "nobody (no secret, no origin)"

    @admin.display(description="backfill", ordering="backfill_days")
    def backfill(self, obj):
        return f"{obj.backfill_days} d"

    @admin.display(description="quota/min (burst)")
    def quota(self, obj):
        rate = obj.quota_events_per_minute or settings.QUOTA_EVENTS_PER_MINUTE
        burst = obj.quota_burst or settings.QUOTA_BURST
        default = "" if obj.quota_events_per_minute or obj.quota_burst else " default"
        return f"{rate:,} ({burst:,}){default}"

    @admin.display(description="created", ordering="created_at")
    def created(self, obj):
        return f"{obj.created_at:%Y-%m-%d}"

    @admin.display(description="client secret")
    def secret(self, obj):
        if obj.has_secret:
            return "set (stored as a hash; the action 'rotate the client secret' shows a new one)"
        return "none: requests without a secret must come from an allowed origin"

    @admin.display(description="salts")
    def salts(self, obj):
        created = obj.salts.values_list("created_at", flat=True)
        return ", ".join(f"{moment:%Y-%m-%d %H:%M} UTC" for moment in created) or "none"

    @admin.display(description="activity, 30 days (UTC)")
    def activity(self, obj):
        explore = reverse("spool-explorer:events", args=[obj.pk])
        try:
            chart = activity.activity_html(obj.id, timezone.now().date())
        except RedisError as error:
            chart = f"counters unavailable: Redis does not answer ({type(error).__name__})"
        return format_html('{}<p><a href="{}">Explore the events</a></p>', chart, explore)

    @admin.display(description="rejected rows, last 7 days")
    def rejected_last_7_days(self, obj):
        try:
            days = counters.rejected_by_day(obj.id, timezone.now().date())
        except RedisError as error:
            return f"counters unavailable: Redis does not answer ({type(error).__name__})"
        samples = reverse("admin:ingest_rejectedsample_changelist")
        rows = format_html_join(
            "",
            '<tr><td><a href="{}?project__id__exact={}&amp;day={}">{}</a></td><td>{}</td><td>{}</td></tr>',
            (
                (samples, obj.id, day, day, _by_code(samples, obj.id, day, counts), sum(counts.values()))
                for day, counts in days
            ),
        )
        return format_html(
            "<table><thead><tr><th>day (UTC)</th><th>by code</th><th>total</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="crawlers, last 7 days (answered, not stored)")
    def crawlers_last_7_days(self, obj):
        try:
            top = counters.top_crawlers(obj.id, timezone.now().date())
        except RedisError as error:
            return f"counters unavailable: Redis does not answer ({type(error).__name__})"
        if not top:
            return "none"
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", ((name, f"{count:,}") for name, count in top))
        table = "<table><thead><tr><th>crawler</th><th>events</th></tr></thead><tbody>{}</tbody></table>"
        return format_html(table, rows)


def _activity_columns(request) -> tuple:
    """The accepted-rows columns of the project list, read for every project in one round trip."""
    try:
        ids = list(Project.objects.values_list("id", flat=True))
        counts = activity.accepted_summary(ids, timezone.now().date())
    except RedisError:
        counts = {}

    @admin.display(description="accepted today")
    def accepted_today(obj):
        return f"{counts[obj.id][0]:,}" if obj.id in counts else "?"

    @admin.display(description="accepted, 7 d")
    def accepted_7_days(obj):
        return f"{counts[obj.id][1]:,}" if obj.id in counts else "?"

    @admin.display(description="events")
    def explore(obj):
        return format_html('<a href="{}">explore</a>', reverse("spool-explorer:events", args=[obj.pk]))

    return accepted_today, accepted_7_days, explore


def _by_code(samples: str, project_id, day: str, counts: dict[str, int]):
    """`invalid_field 3, too_old 1`, each code a link to its samples of that day."""
    return format_html_join(
        ", ",
        '<a href="{}?project__id__exact={}&amp;day={}&amp;code__exact={}">{}</a> {}',
        ((samples, project_id, day, code, code, count) for code, count in counts.items()),
    )


@admin.register(Salt)
class SaltAdmin(MemberAccess, admin.ModelAdmin):
    """Read-only: salts are made by rotation (daily, `manage.py rotate_salts` or the action here)."""

    list_display = ("project", "created_at", "fingerprint")
    list_filter = (("project", admin.RelatedOnlyFieldListFilter),)
    fields = ("project", "created_at", "fingerprint")
    readonly_fields = fields
    actions = ["rotate_now"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_rotate_permission(self, request):
        return request.user.has_perm("projects.change_project") or self.has_view_permission(request)

    @admin.display(description="fingerprint")
    def fingerprint(self, obj):
        # Enough to tell salts apart; the salt itself stays out of the page.
        return hashlib.sha256(obj.salt.encode()).hexdigest()[:12]

    @admin.action(description="Rotate the salts of these salts' projects now", permissions=["rotate"])
    def rotate_now(self, request, queryset):
        count = services.rotate_salts(Project.objects.filter(salts__in=queryset).distinct())
        self.message_user(request, f"Rotated the salts of {count} project(s).", messages.SUCCESS)
