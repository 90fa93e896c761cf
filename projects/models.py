"""A project owns a stream of events: its credentials, origin rules, backfill window and salts."""
import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

MAX_BACKFILL_DAYS = 90


class Project(models.Model):
    id = models.SlugField(primary_key=True, max_length=64)
    name = models.CharField(max_length=200)
    client_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # "<salt>$<sha256 hex>" of the client secret; empty when the project has no secret.
    secret_hash = models.CharField(max_length=200, blank=True, editable=False)
    # The secret before the last rotation, still accepted until `previous_secret_until` (contract §9 r3:
    # `rotate_secret --grace`): devices in the field keep delivering while they are updated.
    previous_secret_hash = models.CharField(max_length=200, blank=True, editable=False)
    previous_secret_until = models.DateTimeField(null=True, blank=True, editable=False)
    allowed_origins = models.TextField(
        blank=True,
        help_text="One origin per line, e.g. https://example.com or *.example.com; '*' accepts any origin. "
        "Used when a request carries no client secret.",
    )
    ignore_cors_and_secret = models.BooleanField(
        default=False, help_text="Accept any request that carries this project's client id."
    )
    backfill_days = models.PositiveSmallIntegerField(
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_BACKFILL_DAYS)],
        help_text="Events older than this many days are rejected.",
    )
    active = models.BooleanField(
        default=True,
        help_text="Off: every request with this client id is refused (401). Events already queued are still stored.",
    )
    # Contract §11. Empty: the defaults of the settings QUOTA_EVENTS_PER_MINUTE and QUOTA_BURST.
    quota_events_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Events a minute this project may send (batches count every event). Empty: the default.",
    )
    quota_burst = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Events it may send at once after a quiet spell, on top of the rate. Empty: the default.",
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="spool_projects",
        help_text="Staff users who administer this project in the admin (superusers see every project).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"

    @property
    def origins(self) -> list[str]:
        return [line.strip() for line in self.allowed_origins.splitlines() if line.strip()]

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_hash)


class Salt(models.Model):
    """Device ids are hashed with the project's two newest salts (contract §6.1)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="salts")
    salt = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"salt of {self.project_id} from {self.created_at:%Y-%m-%d %H:%M}"
