"""Moving rejected-row samples from their Redis buffer into the database (the admin's list), and
dropping the ones past retention. Run by a periodic job and when the admin's list is opened."""
import uuid
from datetime import UTC, datetime, timedelta

from django.conf import settings

from contract import messages
from ingest.models import RejectedSample
from projects.models import Project
from storage.queue import buffers


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def store_samples(now: datetime | None = None) -> int:
    """Move pending samples into the database and drop the ones past retention. Returns the number moved.

    The samples wait in a buffer drained by one mover at a time. A crash between the insert and
    the trim re-reads samples that are already stored; their `sample_id` makes the second insert a
    no-op. A sample the database refuses is set aside (storage/queue/poison.py) and the rest are stored.
    """
    moved = buffers.REJECTED_BUFFER.drain(lambda items, pipe: _insert([sample for _, sample in items]))
    now = now or datetime.now(UTC)
    RejectedSample.objects.filter(received_at__lt=now - timedelta(days=settings.REJECTED_SAMPLES_DAYS)).delete()
    return moved


def _insert(samples: list[messages.RejectedSample]) -> None:
    # A project deleted since its rows were rejected takes its samples with it.
    existing = set(Project.objects.filter(id__in={s["project_id"] for s in samples}).values_list("id", flat=True))
    RejectedSample.objects.bulk_create(
        [
            RejectedSample(
                sample_id=uuid.UUID(sample["id"]),
                project_id=sample["project_id"],
                received_at=_utc(sample["received_ms"]),
                index=sample["index"],
                reason=sample["reason"],
                code=sample.get("code", ""),
                error=sample["error"],
                item=sample["item"],
                truncated=sample["truncated"],
                sdk_name=sample["sdk_name"],
                sdk_version=sample["sdk_version"],
            )
            for sample in samples
            if sample["project_id"] in existing
        ],
        ignore_conflicts=True,
    )
