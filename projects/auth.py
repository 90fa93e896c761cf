"""Who is calling: client id, secret and origin checks of contract §2, on a short in-process cache."""
import re
import time
import uuid
from dataclasses import dataclass, field

from django.conf import settings

from projects.secrets import secret_matches


class Unauthorized(Exception):
    """The request's credentials do not open the project; the message says which rule failed.

    An unknown client id, a wrong secret, an Origin the project does not allow and a disabled
    project all get the one message REFUSED: the answer never tells whether a client id exists.
    """


REFUSED = "unknown client id, wrong client secret, or an Origin this project does not allow"
# Client ids are random UUIDs made with their project, so an id unknown now stays unknown: each
# process remembers up to this many of them for a minute instead of asking the database each time.
UNKNOWN_IDS_KEPT = 10_000
UNKNOWN_ID_SECONDS = 60


class OriginRefused(Unauthorized):
    """Rule 3: a known client id without a secret, from an Origin the project does not allow."""


@dataclass(frozen=True, slots=True)
class ProjectContext:
    """What a request needs of its project, read once and cached for PROJECT_CACHE_SECONDS."""

    id: str
    client_id: str
    # Never in its repr: a log line, an exception message or an error report that names the
    # project must not carry what makes device ids or checks the secret.
    secret_hash: str = field(repr=False)
    origins: tuple[str, ...]
    ignore_cors_and_secret: bool
    backfill_days: int
    current_salt: str = field(repr=False)
    previous_salt: str = field(repr=False)
    active: bool = True
    quota_per_minute: int = 0  # contract §11; the settings' defaults when the project sets none
    quota_burst: int = 0
    # The secret before a rotation with a grace (contract §9 r3), accepted until this Unix time.
    previous_secret_hash: str = field(repr=False, default="")
    previous_secret_until: float = 0.0


_cache: dict[str, tuple[float, ProjectContext]] = {}
_unknown: dict[str, float] = {}


def forget(client_id: object) -> None:
    """Drop a project from this process's cache (after a secret or salt rotation)."""
    _cache.pop(str(client_id), None)
    _unknown.pop(str(client_id), None)


def forget_all() -> None:
    """Empty this process's cache of projects."""
    _cache.clear()
    _unknown.clear()


def _remember_unknown(client_id: str, now: float) -> None:
    if len(_unknown) >= UNKNOWN_IDS_KEPT:
        _unknown.clear()  # a flood of made-up ids costs queries again, never memory
    _unknown[client_id] = now + UNKNOWN_ID_SECONDS


def load_project(client_id: str) -> ProjectContext | None:
    cached = _cache.get(client_id)
    now = time.monotonic()
    if cached and cached[0] > now:
        return cached[1]
    if _unknown.get(client_id, 0) > now:
        return None
    from projects.models import Project

    project = Project.objects.filter(client_id=client_id).first()
    if project is None:
        _remember_unknown(client_id, now)
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
        active=project.active,
        quota_per_minute=project.quota_events_per_minute or settings.QUOTA_EVENTS_PER_MINUTE,
        quota_burst=project.quota_burst or settings.QUOTA_BURST,
        previous_secret_hash=project.previous_secret_hash,
        previous_secret_until=project.previous_secret_until.timestamp() if project.previous_secret_until else 0.0,
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


_HOST = re.compile(r"^[a-z0-9_.\-]+(:[0-9]+)?$|^\[[0-9a-f:.]+\](:[0-9]+)?$")


def _label_matches(label: str, pattern: str) -> bool:
    return re.fullmatch(re.escape(pattern).replace(r"\*", "[^.]*"), label) is not None


def _host_matches(host: str, pattern: str) -> bool:
    """Wildcards match whole host labels (`*.example.com`: one or more labels before
    `.example.com`), never across a `/` or a `.`: `evil.com/.example.com` is no host at all."""
    labels, wanted = host.split("."), pattern.split(".")
    if wanted[0] == "*":
        wanted = wanted[1:]
        if len(labels) <= len(wanted):
            return False
        labels = labels[len(labels) - len(wanted) :]
    return len(labels) == len(wanted) and all(map(_label_matches, labels, wanted))


def origin_allowed(origin: str, allowed: tuple[str, ...]) -> bool:
    if not origin:
        return False
    candidate = _normalize_origin(origin)
    is_host = _HOST.match(candidate) is not None  # an Origin is a scheme and a host, nothing more
    for entry in allowed:
        if entry.strip() == "*":
            return True
        pattern = _normalize_origin(entry)
        if "*" in pattern:
            if is_host and _host_matches(candidate, pattern):
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
    if project is None or not project.active:
        raise Unauthorized(REFUSED)
    if project.ignore_cors_and_secret:
        return project
    if secret:
        if not secret_matches(str(secret), project.secret_hash) and not old_secret_until(project, secret):
            raise Unauthorized(REFUSED)
        return project
    if not origin_allowed(origin or "", project.origins):
        raise OriginRefused(REFUSED)
    return project


def old_secret_until(project: ProjectContext, secret: str | None) -> float:
    """When `secret` is the project's secret before its last rotation and that rotation's grace is
    not over: the Unix time the grace ends (the answer says so, contract §9 r3). Else 0."""
    if not secret or time.time() >= project.previous_secret_until:
        return 0.0
    return project.previous_secret_until if secret_matches(str(secret), project.previous_secret_hash) else 0.0


def proved_secret(project: ProjectContext, secret: str | None) -> bool:
    """Whether a caller that `authenticate` let in proved the project's secret (a server: its
    forwarded-IP headers count, contract §6.4)."""
    return bool(secret) and not project.ignore_cors_and_secret
