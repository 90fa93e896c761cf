"""GDPR erasure in the stores: a profile's rows in ClickHouse (mutations) and its keys in Redis.

ClickHouse deletes with a mutation (`ALTER TABLE ... DELETE`): it returns at once and rewrites the
affected parts in the background, so the rows disappear within seconds on a small table and within
minutes on a large one (`pending_mutations` tells). Until then the explorer hides them, from the list
of erased profiles kept here for ERASED_DAYS (mutations are long done by then).
"""
from django.conf import settings

from contract.tables import EVENTS, PROFILES
from storage.clickhouse import client as clickhouse
from storage.redis import client as redis
from storage.redis import keys

ERASED_DAYS = 30
PENDING_SQL = "SELECT count() FROM system.mutations WHERE database = %(database)s AND NOT is_done"


def mark_erased(project_id: str, profile_id: str, now_ms: int) -> None:
    key = keys.erased_profiles(project_id)
    with redis.client().pipeline(transaction=True) as pipe:
        pipe.hset(key, profile_id, now_ms)
        pipe.expire(key, ERASED_DAYS * 86_400)
        pipe.execute()


def erased_profiles(project_id: str) -> dict[str, int]:
    """{profile id: ms of its erasure} of the project's recent erasures."""
    raw = redis.client().hgetall(keys.erased_profiles(project_id))
    return {profile.decode(): int(ms) for profile, ms in raw.items()}


def _table(name: str) -> str:
    if settings.CLICKHOUSE_CLUSTER:
        return f"{clickhouse.database()}.{name}_local ON CLUSTER {settings.CLICKHOUSE_CLUSTER}"
    return f"{clickhouse.database()}.{name}"


def delete_rows(project_id: str, profile_id: str) -> list[str]:
    """Start the mutations that delete the profile's events and its profile rows; return the tables."""
    params = {"project_id": project_id, "profile_id": profile_id}
    clickhouse.execute(
        f"ALTER TABLE {_table(EVENTS.name)} DELETE WHERE project_id = %(project_id)s AND profile_id = %(profile_id)s",
        params,
    )
    clickhouse.execute(
        f"ALTER TABLE {_table(PROFILES.name)} DELETE WHERE project_id = %(project_id)s AND id = %(profile_id)s", params
    )
    return [EVENTS.name, PROFILES.name]


def pending_mutations() -> int:
    """Mutations of this database that ClickHouse has not finished."""
    return clickhouse.execute(PENDING_SQL, {"database": clickhouse.database()})[0][0]


def forget_profile_state(project_id: str, profile_id: str) -> None:
    """Drop the profile's Redis state: its document, the "known" mark and its live-session pointer.
    A live session it is in keeps going without it (its session_end row will not name the profile)."""
    client = redis.client()
    pointer = keys.live_profile(project_id, profile_id)
    session_id = client.get(pointer)
    with client.pipeline(transaction=True) as pipe:
        document = keys.document("profile", project_id, profile_id)
        pipe.delete(document, pointer, f"{keys.LEGACY_KNOWN_PROFILE}{project_id}:{profile_id}")
        pipe.srem(keys.known_profiles(project_id), profile_id)
        if session_id:
            pipe.hdel(keys.live_session(project_id, session_id.decode()), "profile")
        pipe.execute()
