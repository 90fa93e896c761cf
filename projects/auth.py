"""Who is calling: client id, secret and origin checks of contract §2, on a short in-process cache."""
import fnmatch
import time
import uuid
from dataclasses import dataclass

from django.conf import settings

from projects.secrets import secret_matches


class Unauthorized(Exception):
    """The request's credentials do not open the project; the message says which rule failed."""


class OriginRefused(Unauthorized):
    """Rule 3: a known client id without a secret, from an Origin the project does not allow."""


@dataclass(frozen=True, slots=True)
class ProjectContext:
    """What a request needs of its project, read once and cached for PROJECT_CACHE_SECONDS."""

    id: str
    client_id: str
    secret_hash: str
    origins: tuple[str, ...]
    ignore_cors_and_secret: bool
    backfill_days: int
    current_salt: str
    previous_salt: str


_cache: dict[str, tuple[float, ProjectContext]] = {}


def forget(client_id) -> None:
    """Drop a project from this process's cache (after a secret or salt rotation)."""
    _cache.pop(str(client_id), None)


def forget_all() -> None:
    """Empty this process's cache of projects."""
    _cache.clear()


def load_project(client_id: str) -> ProjectContext | None:
    cached = _cache.get(client_id)
    now = time.monotonic()
    if cached and cached[0] > now:
        return cached[1]
    from projects.models import Project

    project = Project.objects.filter(client_id=client_id).first()
    if project is None:
        return None
    salts = list(project.salts.order_by("-created_at", "-id").values_list("salt", flat=True)[:2])
    if not salts:
        salts = [""]
    context = ProjectContext(
        id=project.id,
        client_id=client_id,
        secret_hash=project.secret_hash,
        origins=tuple(project.origins),
        ignore_cors_and_secret=project.ignore_cors_and_secret,
        backfill_days=project.backfill_days,
        current_salt=salts[0],
        previous_salt=salts[1] if len(salts) > 1 else salts[0],
    )
    _cache[client_id] = (now + settings.PROJECT_CACHE_SECONDS, context)
    return context


def _normalize_origin(value: str) -> str:
    value = value.strip().lower()
    if "://" in value:
        value = value.split("://", 1)[1]
    if value.startswith("www."):
        value = value[4:]
    return value.rstrip("/")


def origin_allowed(origin: str, allowed: tuple[str, ...]) -> bool:
    if not origin:
        return False
    candidate = _normalize_origin(origin)
    for entry in allowed:
        if entry.strip() == "*":
            return True
        pattern = _normalize_origin(entry)
        if "*" in pattern:
            if fnmatch.fnmatchcase(candidate, pattern):
                return True
        elif candidate == pattern:
            return True
    return False


def authenticate(client_id: str | None, secret: str | None, origin: str | None) -> ProjectContext:
    """Return the caller's project or raise Unauthorized naming the rule that failed."""
    if not client_id:
        raise Unauthorized("missing client id (header openpanel-client-id)")
    try:
        client_id = str(uuid.UUID(str(client_id)))
    except ValueError:
        raise Unauthorized("client id is not a UUID") from None
    project = load_project(client_id)
    if project is None:
        raise Unauthorized("unknown client id")
    if project.ignore_cors_and_secret:
        return project
    if secret:
        if not secret_matches(str(secret), project.secret_hash):
            raise Unauthorized("wrong client secret")
        return project
    if not origin_allowed(origin or "", project.origins):
        raise OriginRefused("no client secret, and the Origin is not allowed for this project")
    return project
