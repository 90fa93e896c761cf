"""Profiles and groups: one row per version; ReplacingMergeTree(version) keeps the newest."""

PROFILE_COLUMNS = """
    id String,
    project_id String,
    first_name String,
    last_name String,
    email String,
    avatar String,
    properties Nested(key String, value String),
    groups Array(String),
    created_at DateTime('UTC'),
    updated_at DateTime('UTC'),
    version UInt64
"""

GROUP_COLUMNS = """
    id String,
    project_id String,
    type String,
    name String,
    properties Nested(key String, value String),
    created_at DateTime('UTC'),
    updated_at DateTime('UTC'),
    version UInt64
"""


def statements(schema) -> list[str]:
    tail = "ORDER BY (project_id, id)"
    return schema.create_table(
        "profiles", PROFILE_COLUMNS, "ReplacingMergeTree", tail, "cityHash64(project_id, id)", engine_args="version"
    ) + schema.create_table(
        "groups", GROUP_COLUMNS, "ReplacingMergeTree", tail, "cityHash64(project_id, id)", engine_args="version"
    )
