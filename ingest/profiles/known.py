"""Which profiles exist, for the API's increment / decrement check (an unknown profile is a 404).

Redis remembers every profile identified or written for KNOWN_SECONDS; a profile Redis has
forgotten is looked up in ClickHouse."""
from storage import keys, queries, redis

KNOWN_SECONDS = 30 * 86_400


def queue_lookup(pipe, project_id: str, profile_ids: list[str]) -> None:
    for profile_id in profile_ids:
        pipe.exists(keys.known_profile(project_id, profile_id))


def read_lookup(profile_ids: list[str], replies: list) -> set[str]:
    return {profile for profile, hit in zip(profile_ids, replies) if hit}


def mark_known(pairs, pipe=None) -> None:
    """Remember that profiles exist ((project id, profile id) pairs)."""
    if not pairs:
        return
    own = pipe is None
    pipe = pipe if pipe is not None else redis.client().pipeline(transaction=False)
    for project_id, profile_id in pairs:
        pipe.set(keys.known_profile(project_id, profile_id), 1, ex=KNOWN_SECONDS)
    if own:
        pipe.execute()


def stored_profiles(project_id: str, profile_ids: list[str]) -> set[str]:
    """Profiles that exist in ClickHouse (asked when Redis does not know them)."""
    return queries.existing_profiles(project_id, profile_ids)
