"""GDPR erasure of one profile (`manage.py delete_profile`): its events and profile rows in
ClickHouse, its group memberships (they live in the profile document), its Redis state, and the
rejected-row samples that name it. The explorer hides the profile at once; ClickHouse removes the
rows in the background (storage/clickhouse/queries/erasure.py says how long that takes)."""
import hashlib
from dataclasses import dataclass

import orjson

from ingest.models import RejectedSample
from storage.clickhouse.queries import erasure
from storage.queue import buffers
from storage.redis import client as redis


@dataclass
class Erased:
    tables: list[str]  # ClickHouse tables with a delete mutation started
    samples: int  # rejected-row samples deleted
    queued_changes: int  # profile changes still waiting in their buffer (applied after this erasure)


def fingerprint(profile_id: str) -> str:
    """What the audit line says instead of the id itself: enough to check a request, nothing to read."""
    return hashlib.sha256(profile_id.encode()).hexdigest()[:16]


def _sample_patterns(profile_id: str) -> list[str]:
    """How a rejected row names the profile in its raw JSON (a string, or a number as sent)."""
    patterns = [f'"profileId":{orjson.dumps(profile_id).decode()}']
    if profile_id.lstrip("-").isdigit():
        patterns.append(f'"profileId":{profile_id}')
    return patterns


def erase_profile(project_id: str, profile_id: str, now_ms: int) -> Erased:
    erasure.mark_erased(project_id, profile_id, now_ms)  # first: the explorer hides it from now on
    tables = erasure.delete_rows(project_id, profile_id)
    erasure.forget_profile_state(project_id, profile_id)
    samples = RejectedSample.objects.filter(project_id=project_id)
    deleted = 0
    for pattern in _sample_patterns(profile_id):
        deleted += samples.filter(item__contains=pattern).delete()[0]
    waiting = redis.client().llen(buffers.PROFILE_BUFFER.key)
    return Erased(tables=tables, samples=deleted, queued_changes=waiting)
