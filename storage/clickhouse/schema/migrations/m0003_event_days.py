"""The day each event whose retries may arrive for another day is stored on, found by its id (issue 17):
one row per such event, partitioned like the events (by the month of the day it is stored on), so
that retention drops both together."""
from contract.tables import EVENT_DAYS

# Looked up by (project, natural day, id): a copy's retries share its natural day (the id hashes the
# time as sent, or the insert id's event carries the same `__timestamp`).
TAIL = "PARTITION BY toYYYYMM(stored_day) ORDER BY (project_id, natural_day, id)"


def statements(schema) -> list[str]:
    return schema.create_table(
        EVENT_DAYS.name, EVENT_DAYS.ddl_columns(), "ReplacingMergeTree", TAIL, sharding_key="cityHash64(project_id, id)"
    )
