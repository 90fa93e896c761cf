"""The events table (contract §8): ReplacingMergeTree so that re-sent rows with the same id collapse."""

COLUMNS = """
    id UUID,
    project_id String,
    name String,
    device_id String,
    profile_id String,
    session_id String,
    created_at DateTime('UTC'),
    created_at_ms UInt16,
    received_at DateTime('UTC'),
    properties Nested(key String, value String),
    groups Array(String),
    path String,
    origin String,
    referrer String,
    referrer_name String,
    referrer_type String,
    revenue UInt64,
    duration UInt64,
    country String,
    city String,
    region String,
    latitude Nullable(Float32),
    longitude Nullable(Float32),
    os String,
    os_version String,
    browser String,
    browser_version String,
    device String,
    brand String,
    model String,
    sdk_name String,
    sdk_version String
"""

# The sorting key ends in `id`: rows with one id collapse into one (a retry, a re-sent batch).
TAIL = "PARTITION BY toYYYYMM(created_at) ORDER BY (project_id, toDate(created_at), name, id)"


def statements(schema) -> list[str]:
    return schema.create_table(
        "events", COLUMNS, "ReplacingMergeTree", TAIL, sharding_key="cityHash64(project_id, device_id)"
    )
