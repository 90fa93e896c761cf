"""Who may see which project in the admin: the one place every admin page asks (issue 10, finding 6).

The admin is for project admins. A project's members (staff users) see and change that project, and
see its rejected rows, counters and salts; a superuser sees every project. Membership is the
permission: a staff user who belongs to no project sees no project, whatever model permissions they
hold, and operators add members on the project's page (superusers only).
"""
from django.db.models import QuerySet

from projects.models import Project


def visible_projects(user) -> QuerySet[Project]:
    """The projects `user` may see: all for a superuser, their own for other staff, none otherwise."""
    if user is None or not getattr(user, "is_active", False) or not getattr(user, "is_staff", False):
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(members=user)


def is_project_admin(user) -> bool:
    """A superuser, or a staff user who belongs to at least one project."""
    return visible_projects(user).exists()


class MemberAccess:
    """ModelAdmin mixin: rows whose `project_field` is a visible project, and the pages for them.

    Members may view their rows (and delete them where the admin allows deleting at all);
    superusers keep Django's own permission checks.
    """

    project_field = "project"

    def visible_ids(self, request) -> QuerySet:
        return visible_projects(request.user).values("pk")

    def get_queryset(self, request):
        queryset = super().get_queryset(request)  # type: ignore[misc]
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.project_field}__in": self.visible_ids(request)})

    def _member_may(self, request, obj) -> bool:
        if not is_project_admin(request.user):
            return False
        return obj is None or self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_module_permission(self, request):
        return request.user.is_superuser or is_project_admin(request.user)

    def has_view_permission(self, request, obj=None):
        if request.user.is_superuser:
            return super().has_view_permission(request, obj)  # type: ignore[misc]
        return self._member_may(request, obj)

    def has_delete_permission(self, request, obj=None):
        if request.user.is_superuser:
            return super().has_delete_permission(request, obj)  # type: ignore[misc]
        return self._member_may(request, obj) and self.members_may_delete

    members_may_delete = False
