"""Signed-in admin users as the admin's pages see them."""
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client


def project_admin(
    username: str = "project-admin", perms=("view_project", "change_project"), projects=()
) -> Client:
    """A test client signed in as a staff user (not a superuser) who administers `projects` (their
    member: projects/access.py)."""
    user = get_user_model().objects.create_user(username, password="pw-admin-long-1", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="projects", codename__in=perms))
    for project in projects:
        project.members.add(user)
    client = Client()
    client.force_login(user)
    return client
