"""Every Redis key Spool writes, named in one place under one prefix (RQ keeps its own `rq:` keys).
Names only: the client, scripts and locks are in storage.redis.client."""
import hashlib

PREFIX = "spool"


# Ingestion
def duplicate_guard(digest: str) -> str:
    return f"{PREFIX}:dup:{digest}"


def buffer(name: str) -> str:
    """A FIFO list of packets waiting for the worker ("events", "profiles")."""
    return f"{PREFIX}:buffer:{name}"


def buffer_flag(name: str) -> str:
    """Set while a drain job for the buffer is queued or running."""
    return f"{PREFIX}:buffer:{name}:draining"


def buffer_lock(name: str) -> str:
    return f"{PREFIX}:buffer:{name}:lock"


def buffer_trimmed(name: str) -> str:
    """How many packets were ever taken off the buffer: a packet's sequence number is this + its index."""
    return f"{PREFIX}:buffer:{name}:trimmed"


def set_aside(source: str) -> str:
    """What the worker could not process from `source` ("events", "profiles", "rejected", "chunks"),
    kept with its error until an operator requeues or drops it (storage/queue/poison.py)."""
    return f"{PREFIX}:set_aside:{source}"


def quota(project_id: str) -> str:
    """The project's token buckets (contract §11): its quota and its fair share of the event queue."""
    return f"{PREFIX}:quota:{project_id}"


# Redis's used memory and maxmemory, as read by the admission script at most every 250 ms.
MEMORY_READING = f"{PREFIX}:memory"
# Bytes the worker keeps while Redis has room and deletes when it is full (storage/redis/reserve.py).
MEMORY_RESERVE = f"{PREFIX}:memory_reserve"
# Held by the one worker that runs the upkeep (the session sweep and the drains) at a time.
UPKEEP_LEASE = f"{PREFIX}:upkeep"


def rejected_counts(project_id: str, day: str) -> str:
    return f"{PREFIX}:rejected:{project_id}:{day}"


def rejected_sample_slots(project_id: str, hour: str) -> str:
    return f"{PREFIX}:rejected_samples:{project_id}:{hour}"


# Counters (storage/redis/counters.py) and what the operators' pages read
def accepted_counts(day: str) -> str:
    """Rows accepted on one UTC day: a hash {project id: count}."""
    return f"{PREFIX}:accepted:{day}"


TOTAL_ACCEPTED = f"{PREFIX}:total:accepted"  # {project id: rows accepted since the start}
TOTAL_REJECTED = f"{PREFIX}:total:rejected"  # {"project|reason|code": rows rejected since the start}
TOTAL_CRAWLERS = f"{PREFIX}:total:crawlers"  # {"project|crawler|events" or "...|requests": dropped since the start}


def crawler_counts(project_id: str, day: str) -> str:
    """Events of crawlers dropped on one UTC day for a project: a hash {crawler name: events}."""
    return f"{PREFIX}:crawlers:{project_id}:{day}"


def crawler_names(project_id: str) -> str:
    """The crawler names a project's counts use (a set, bounded: storage/redis/counters.py)."""
    return f"{PREFIX}:crawlers:{project_id}:names"
CLICKHOUSE_STATS = f"{PREFIX}:total:clickhouse"  # insert counts, rows, failures, time buckets per table
PERIODIC_RUNS = f"{PREFIX}:periodic:runs"  # {periodic job name: JSON of its last run}

# Sessions (docs/sessions.md, "What a session keeps in Redis")
KEY_REF_BYTES = 32
PROFILE_REF_BYTES = 64


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def is_profile_digest(ref: str) -> bool:
    """Whether a profile ref is the digest of a longer id (a literal id of that form is read the same)."""
    return len(ref) == 41 and ref[0] == "#"


def profile_ref(profile_id: str) -> str:
    """How a live session keeps its profile id: itself up to 64 bytes, else "#" and its SHA-1 (41
    characters; profile ids have up to 256)."""
    if len(profile_id.encode()) <= PROFILE_REF_BYTES or is_profile_digest(profile_id):
        return profile_id
    return "#" + _digest(profile_id)


def key_ref(an_id: str) -> str:
    """How a device id or a profile id (or its profile_ref) names a key: itself up to 32 bytes, else
    "#" and 31 characters of its SHA-1, so that no key name grows with what an event holds."""
    if len(an_id.encode()) <= KEY_REF_BYTES:
        return an_id
    digest = an_id[1:] if is_profile_digest(an_id) else _digest(an_id)
    return "#" + digest[:31]


def is_key_digest(ref: str) -> bool:
    """Whether a key ref is the digest of a longer id (a literal id of that form is read the same)."""
    return len(ref) == KEY_REF_BYTES and ref[0] == "#"


def live_device(project_id: str, device_id: str) -> str:
    """Pointer to the device's current live session: sid, first, last."""
    return f"{PREFIX}:live:{project_id}:{key_ref(device_id)}"


def live_session(project_id: str, session_id: str) -> str:
    """The live session's state (sessions_app/lua/merge_live.lua): times, counts, exit path, profile,
    and its start so far."""
    return f"{PREFIX}:session:{project_id}:{session_id}"


def live_session_chunks(project_id: str, session_id: str) -> str:
    """The release before's set of chunks merged into a live session: deleted when the session ends."""
    return f"{PREFIX}:session_chunks:{project_id}:{session_id}"


def live_profile(project_id: str, profile_id: str) -> str:
    """The live session of a profile (its session id): where its server events join it. Named by the
    profile id or by its profile_ref alike."""
    return f"{PREFIX}:live_profile:{project_id}:{key_ref(profile_id)}"


def ended_sessions(project_id: str, day: int) -> str:
    """Live sessions of a project that ended, by the UTC day (days since the epoch) of the bucket their
    id comes from: a hash {session id: its start ms}, so that an ended session is never reopened."""
    return f"{PREFIX}:ended:{project_id}:{day}"


def chunk_sessions(chunk_id: str) -> str:
    """What settling a chunk decided (the session of each device's runs), kept until the chunk is
    written, so that a job run again decides the same."""
    return f"{PREFIX}:chunk:{chunk_id}"


def session_start(project_id: str, session_id: str) -> str:
    """A historical session's start so far (a hash: ms, the chunk that wrote it): the record by which
    a start only moves earlier. A live session keeps its start in its own state."""
    return f"{PREFIX}:session_start:{project_id}:{session_id}"


def session_start_row(project_id: str, session_id: str) -> str:
    """The session's best start row (JSON), for a few minutes: a chunk whose worse start row was
    inserted after it inserts this one again (ReplacingMergeTree keeps the last)."""
    return f"{PREFIX}:session_start_row:{project_id}:{session_id}"


def copy_days(project_id: str) -> str:
    """A set of the natural days (UTC day numbers, or "future") for which the project has rows in
    ClickHouse's `event_days`: copies of those days look their ids up (ingest/worker/copies.py)."""
    return f"{PREFIX}:copy_days:{project_id}"


# Set while the copy days above are known to hold all of `event_days` (re-read from ClickHouse when
# it is missing: every hour, and after Redis lost its data).
COPY_DAYS_LOADED = f"{PREFIX}:copy_days_loaded"


# Start rows that a start moving to an earlier day left on a later day (members "project|id|day").
MOVED_STARTS = f"{PREFIX}:moved_starts"


LIVE_ENDS = f"{PREFIX}:live_ends"
HISTORICAL_ENDS = f"{PREFIX}:historical_ends"


def historical_ended(project_id: str, session_id: str) -> str:
    return f"{PREFIX}:historical_ended:{project_id}:{session_id}"


# Profiles
def known_profiles(project_id: str) -> str:
    """A set of every profile id of a project that was ever identified or written (no expiry)."""
    return f"{PREFIX}:profiles_known:{project_id}"


KNOWN_PROFILES_LOADED = f"{PREFIX}:profiles_known_loaded"
# The previous release's per-profile marks (30-day expiry), taken over by ingest/profiles/known.py.
LEGACY_KNOWN_PROFILE = f"{PREFIX}:profile_known:"


def document(kind: str, project_id: str, doc_id: str) -> str:
    """The current document of a profile or a group (`kind`: "profile" | "group")."""
    return f"{PREFIX}:{kind}:{project_id}:{doc_id}"


def erased_profiles(project_id: str) -> str:
    """{profile id: ms of its erasure}: hidden by the explorer until ClickHouse's mutation is done."""
    return f"{PREFIX}:erased:{project_id}"


def document_lock(kind: str, project_id: str, doc_id: str) -> str:
    return f"{PREFIX}:{kind}_lock:{project_id}:{doc_id}"


# Jobs a worker took off their queue and has not started yet (a zset: job id -> ms it was taken;
# storage/queue/holding.py).
HELD_JOBS = f"{PREFIX}:held_jobs"


def companions(job_id: str) -> str:
    """The chunk jobs a `process_events` job took off its queue to write with its own (storage/queue/queues.py)."""
    return f"{PREFIX}:companions:{job_id}"
