"""Row ids of events that a retry reproduces (contract §6.3); session rows: sessions_app.identity."""
import uuid

import orjson

from sessions_app.identity import uuid_from as _uuid_from

EXPORTED = "spool:"  # the __insertId that `export_events` gives a row: its own id after the prefix


def exported_row_id(insert_id: str) -> str | None:
    """The row id an exported row carries in its `__insertId` (`spool:<uuid>`), so that replaying an
    export stores each row under its own id again (docs/operations.md); None for any other insert id.
    Honoured for `replay_events` only: from the HTTP API it is an ordinary insert id (a client that
    could name a row id could overwrite any row it knows)."""
    if not insert_id.startswith(EXPORTED):
        return None
    try:
        return str(uuid.UUID(insert_id[len(EXPORTED) :]))
    except ValueError:
        return None


def insert_id_event_id(project_id: str, client_device: str, name: str, insert_id: str) -> str:
    """Scoped to the `__deviceId` the client sent ("" without one) and the event name (contract §6.3 r2):
    two devices that both count their events from 1 keep two rows."""
    return _uuid_from(f"{project_id}:insert:{client_device}:{name}:{insert_id}")


def timed_event_id(project_id: str, device_id: str, name: str, ms: int, profile_id: str, properties: dict) -> str:
    canonical = orjson.dumps(properties, option=orjson.OPT_SORT_KEYS)  # UTF-8 already: hashed as it is
    return _uuid_from(f"{project_id}:event:{device_id}:{name}:{ms}:{profile_id}:".encode() + canonical)


def random_event_id() -> str:
    return str(uuid.uuid4())
