"""Which profiles exist, for the API's increment / decrement check (an unknown profile is a 404).

Answered from Redis alone, so that ClickHouse being away or hung never slows a request (contract
§10; issue 9: one request once waited the 60 s ClickHouse timeout). Redis keeps, per project, a set
of every profile id ever identified or written, without expiry: the API adds to it on identify,
the worker on every profile write, and `load_stored` (run once by `clickhouse_migrate`, or by
`manage.py load_known_profiles` after Redis lost its data) adds the ids ClickHouse already holds.
Its cost is about 60 bytes plus the id's length per profile (docs/operations.md).
"""
from collections import defaultdict
from collections.abc import Iterable

from redis.client import Pipeline

from storage.clickhouse.queries import profiles as queries
from storage.redis import client as redis
from storage.redis import keys

LOAD_BATCH = 10_000


def _named(profile_ids: list) -> list[str]:
    """The ids that can name a profile: a blank one (None, "") never does."""
    return [profile for profile in profile_ids if isinstance(profile, str) and profile]


def queue_lookup(pipe: Pipeline, project_id: str, profile_ids: list) -> None:
    if _named(profile_ids):
        pipe.smismember(keys.known_profiles(project_id), _named(profile_ids))


def read_lookup(profile_ids: list, replies: list) -> set[str]:
    """The known ones among `profile_ids`, from the reply `queue_lookup` queued (none when it queued none)."""
    named = _named(profile_ids)
    if not named:
        return set()
    return {profile for profile, hit in zip(named, replies[0]) if hit}


def mark_known(pairs: Iterable[tuple[str, object]], pipe: Pipeline | None = None) -> None:
    """Remember that profiles exist ((project id, profile id) pairs)."""
    by_project = defaultdict(set)
    for project_id, profile_id in pairs:
        if isinstance(profile_id, str) and profile_id:
            by_project[project_id].add(profile_id)
    if not by_project:
        return
    own = pipe is None
    pipe = pipe if pipe is not None else redis.client().pipeline(transaction=False)
    for project_id, profile_ids in by_project.items():
        pipe.sadd(keys.known_profiles(project_id), *profile_ids)
    if own:
        pipe.execute()


def forget(project_id: str, profile_ids: list[str]) -> None:
    """A profile erased (its id may be refused again)."""
    if profile_ids:
        redis.client().srem(keys.known_profiles(project_id), *profile_ids)


def loaded() -> bool:
    return bool(redis.client().exists(keys.KNOWN_PROFILES_LOADED))


def load_stored() -> int:
    """Mark every profile ClickHouse holds, and the previous release's per-profile marks; returns how
    many ids were marked. Safe to run again (marks are set members)."""
    client = redis.client()
    count = 0
    batch: list[tuple[str, str]] = []
    for project_id, profile_id in queries.profile_ids():
        batch.append((project_id, profile_id))
        if len(batch) >= LOAD_BATCH:
            count += _flush(batch)
    for key in client.scan_iter(match=f"{keys.LEGACY_KNOWN_PROFILE}*", count=1_000):
        project_id, _, profile_id = key.decode()[len(keys.LEGACY_KNOWN_PROFILE) :].partition(":")
        batch.append((project_id, profile_id))
        if len(batch) >= LOAD_BATCH:
            count += _flush(batch)
    count += _flush(batch)
    client.set(keys.KNOWN_PROFILES_LOADED, 1)
    return count


def _flush(batch: list[tuple[str, str]]) -> int:
    done = len(batch)
    mark_known(batch)
    batch.clear()
    return done
