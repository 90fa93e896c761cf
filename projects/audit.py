"""Lines in the admin's history (LogEntry) for what commands do to a project. The admin's own actions
log as the signed-in user; a command logs as `--by USERNAME`, or as the inactive user SYSTEM_USER."""
from typing import Any

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model

from projects.models import Project

SYSTEM_USER = "manage.py"


def actor(username: str | None = None) -> Any:  # the user model (AUTH_USER_MODEL)
    """The user a command acts as: `username` (must exist), else SYSTEM_USER (created inactive, without a password)."""
    users = get_user_model()
    if username:
        return users.objects.get(username=username)
    user, created = users.objects.get_or_create(username=SYSTEM_USER, defaults={"is_active": False})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def record(project: Project, message: str, username: str | None = None) -> None:
    LogEntry.objects.log_actions(
        actor(username).pk, Project.objects.filter(pk=project.pk), CHANGE, change_message=message, single_object=True
    )
