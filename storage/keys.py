"""Every Redis key Spool writes, named in one place under one prefix (RQ keeps its own `rq:` keys).
Names only: the client, scripts and locks are in storage.redis."""
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
    kept with its error until an operator requeues or drops it (storage/poison.py)."""
    return f"{PREFIX}:set_aside:{source}"


def quota(project_id: str) -> str:
    """The project's token buckets (contract §11): its quota and its fair share of the event queue."""
    return f"{PREFIX}:quota:{project_id}"


def batches_in_flight(project_id: str) -> str:
    """The project's batches being handled by web processes now (a sorted set: token → start ms)."""
    return f"{PREFIX}:in_flight:{project_id}"


# Redis's used memory and maxmemory, as read by the admission script at most every 250 ms.
MEMORY_READING = f"{PREFIX}:memory"
# Bytes the worker keeps while Redis has room and deletes when it is full (storage/reserve.py).
MEMORY_RESERVE = f"{PREFIX}:memory_reserve"
# Held by the one worker that runs the upkeep (the session sweep and the drains) at a time.
UPKEEP_LEASE = f"{PREFIX}:upkeep"


def rejected_counts(project_id: str, day: str) -> str:
    return f"{PREFIX}:rejected:{project_id}:{day}"


def rejected_sample_slots(project_id: str, hour: str) -> str:
    return f"{PREFIX}:rejected_samples:{project_id}:{hour}"


# Counters (storage/counters.py) and what the operators' pages read
def accepted_counts(day: str) -> str:
    """Rows accepted on one UTC day: a hash {project id: count}."""
    return f"{PREFIX}:accepted:{day}"


TOTAL_ACCEPTED = f"{PREFIX}:total:accepted"  # {project id: rows accepted since the start}
TOTAL_REJECTED = f"{PREFIX}:total:rejected"  # {"project|reason|code": rows rejected since the start}
CLICKHOUSE_STATS = f"{PREFIX}:total:clickhouse"  # insert counts, rows, failures, time buckets per table
PERIODIC_RUNS = f"{PREFIX}:periodic:runs"  # {periodic job name: JSON of its last run}

# Sessions
def live_device(project_id: str, device_id: str) -> str:
    """Pointer to the device's current live session: sid, first, last."""
    return f"{PREFIX}:live:{project_id}:{device_id}"


def live_session(project_id: str, session_id: str) -> str:
    """The live session's state: times, paths, screen views, referrer, UA/geo, profile."""
    return f"{PREFIX}:session:{project_id}:{session_id}"


def live_session_chunks(project_id: str, session_id: str) -> str:
    """Chunks already merged into a live session, so that a re-run job counts nothing twice."""
    return f"{PREFIX}:session_chunks:{project_id}:{session_id}"


def live_profile(project_id: str, profile_id: str) -> str:
    return f"{PREFIX}:live_profile:{project_id}:{profile_id}"


def session_start(project_id: str, session_id: str) -> str:
    """The session's start so far (a hash: ms, day, the chunk that wrote it, live): the record by which
    a start only moves earlier, and an ended live session's id is never reused."""
    return f"{PREFIX}:session_start:{project_id}:{session_id}"


def session_start_row(project_id: str, session_id: str) -> str:
    """The session's best start row (JSON), for a minute or so: a chunk whose worse start row was
    inserted after it inserts this one again (ReplacingMergeTree keeps the last)."""
    return f"{PREFIX}:session_start_row:{project_id}:{session_id}"


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
# storage/holding.py).
HELD_JOBS = f"{PREFIX}:held_jobs"


def companions(job_id: str) -> str:
    """The chunk jobs a `process_events` job took off its queue to write with its own (storage/queues.py)."""
    return f"{PREFIX}:companions:{job_id}"
