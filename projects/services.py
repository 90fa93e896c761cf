"""Project life cycle: create, change settings, rotate the secret, rotate the salts."""
import secrets
from collections.abc import Iterable
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from projects import auth
from projects.models import Project, Salt
from projects.secrets import hash_secret, new_secret

SALTS_KEPT = 2


def _free_project_id(name: str) -> str:
    base = slugify(name)[:48] or "project"
    candidate = base
    while Project.objects.filter(id=candidate).exists():
        candidate = f"{base}-{secrets.token_hex(3)}"
    return candidate


@transaction.atomic
def create_project(
    name: str,
    origins: list[str] | None = None,
    backfill_days: int = 5,
    with_secret: bool = True,
    ignore_cors_and_secret: bool = False,
) -> tuple[Project, str | None]:
    """Create a project with two salts. Returns it with its client secret (shown only now)."""
    secret = new_secret() if with_secret else None
    project = Project(
        id=_free_project_id(name),
        name=name,
        allowed_origins="\n".join(origins or []),
        backfill_days=backfill_days,
        ignore_cors_and_secret=ignore_cors_and_secret,
        secret_hash=hash_secret(secret) if secret else "",
    )
    project.full_clean()
    project.save()
    for _ in range(SALTS_KEPT):
        Salt.objects.create(project=project, salt=secrets.token_hex(16))
    return project, secret


def save_settings(project: Project) -> None:
    """Store edited settings (origins, backfill window, flags); other processes see them within
    PROJECT_CACHE_SECONDS, this one at once."""
    project.save()
    auth.forget(project.client_id)


def update_project(project: Project, changes: dict) -> Project:
    """Change the given settings (fields of Project: allowed_origins, backfill_days, active,
    quota_events_per_minute, quota_burst), validated as the admin validates them."""
    for name, value in changes.items():
        setattr(project, name, value)
    project.full_clean(exclude=["members"])
    save_settings(project)
    return project


MAX_GRACE_SECONDS = 90 * 86_400  # the longest a device in the field may keep the old secret


def rotate_secret(project: Project, grace_seconds: int = 0) -> str:
    """Give the project a new client secret (contract §9 r3). With a grace, the secret it had until
    now is still accepted for `grace_seconds`; without one, every secret but the new one is refused
    at once (a leaked secret: an earlier rotation's grace ends too). Other web processes see it
    within PROJECT_CACHE_SECONDS."""
    if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
        raise ValueError(f"the grace is 0 to {MAX_GRACE_SECONDS} seconds (90 days)")
    secret = new_secret()
    keeps = grace_seconds > 0 and bool(project.secret_hash)
    project.previous_secret_hash = project.secret_hash if keeps else ""
    project.previous_secret_until = timezone.now() + timedelta(seconds=grace_seconds) if keeps else None
    project.secret_hash = hash_secret(secret)
    project.save(update_fields=["secret_hash", "previous_secret_hash", "previous_secret_until"])
    auth.forget(project.client_id)
    return secret


@transaction.atomic
def rotate_salts(projects: Iterable[Project] | None = None) -> int:
    """Add a salt to each project and keep only the newest two (contract §6.1). Returns the count."""
    projects = list(projects if projects is not None else Project.objects.all())
    for project in projects:
        Salt.objects.create(project=project, salt=secrets.token_hex(16))
        stale = Salt.objects.filter(project=project).order_by("-created_at", "-id")[SALTS_KEPT:]
        Salt.objects.filter(pk__in=[salt.pk for salt in stale]).delete()
        auth.forget(project.client_id)
    return len(projects)
