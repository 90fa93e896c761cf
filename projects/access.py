"""Which projects a signed-in admin user may see (the explorer, the counts, the project list).

Minimal version: superusers see every project, and so does other staff with the permission to view
projects. The admission branch replaces this module with per-project members; callers use only
`visible_projects(user)`.
"""
from projects.models import Project


def visible_projects(user):
    """A queryset of the projects `user` may see (none for anonymous or non-staff users)."""
    if not getattr(user, "is_active", False) or not getattr(user, "is_staff", False):
        return Project.objects.none()
    if user.is_superuser or user.has_perm("projects.view_project"):
        return Project.objects.all()
    return Project.objects.none()
