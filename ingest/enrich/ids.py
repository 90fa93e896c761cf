"""Row ids that a retry reproduces (spec §6.3)."""
import hashlib
import uuid

import orjson


def _uuid_from(text: str) -> str:
    """The first 16 bytes of the SHA-256, spelled as a UUID (str(uuid.UUID(bytes=...)), without the object)."""
    h = hashlib.sha256(text.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def insert_id_event_id(project_id: str, insert_id: str) -> str:
    return _uuid_from(f"{project_id}:insert:{insert_id}")


def timed_event_id(project_id: str, device_id: str, name: str, ms: int, profile_id: str, properties: dict) -> str:
    canonical = orjson.dumps(properties, option=orjson.OPT_SORT_KEYS).decode()
    return _uuid_from(f"{project_id}:event:{device_id}:{name}:{ms}:{profile_id}:{canonical}")


def random_event_id() -> str:
    return str(uuid.uuid4())


def session_row_id(project_id: str, session_id: str, name: str) -> str:
    """`session_start` / `session_end` rows: one per session, whoever writes them."""
    return _uuid_from(f"{project_id}:{session_id}:{name}")
