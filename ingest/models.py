"""Rows the API refused, kept as a bounded sample for operators (contract §9)."""
from django.db import models


class RejectedSample(models.Model):
    """One rejected row of `/track` or `/track/batch` (at most REJECTED_SAMPLES_PER_HOUR per project per hour)."""

    REASONS = [("validation", "validation"), ("internal", "internal")]

    # Given at the API: moving a sample into the database twice stores it once.
    sample_id = models.UUIDField(unique=True, editable=False)
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="rejected_samples")
    received_at = models.DateTimeField(db_index=True)
    index = models.PositiveIntegerField(help_text="Position of the row in its request.")
    reason = models.CharField(max_length=16, choices=REASONS)
    # The row code (ingest/pipeline/codes.py); not a choices field, so a new code needs no migration.
    code = models.CharField(max_length=32, blank=True, default="", db_index=True)
    error = models.TextField()
    item = models.TextField(help_text="The row as it was sent, cut at 8 KiB.")
    truncated = models.BooleanField(default=False, help_text="The row was longer than 8 KiB.")
    sdk_name = models.CharField(max_length=64, blank=True)
    sdk_version = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["project", "received_at"], name="rejected_project_time")]

    def __str__(self) -> str:
        return f"{self.project_id} #{self.index} ({self.reason}) at {self.received_at:%Y-%m-%d %H:%M:%S}"
