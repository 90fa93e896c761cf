"""Device ids, deterministic session buckets and session row ids (contract §6.1–§6.3). Pure functions."""
import base64
import hashlib

GRACE_MS = 5_000
UNKNOWN_UA = "unknown/1.0"


def device_id(ua: str, ip: str, project_id: str, salt: str) -> str:
    return hashlib.shake_256(f"{ua or UNKNOWN_UA}:{ip}:{project_id}:{salt}".encode()).hexdigest(16)


def bucket_of(event_ms: int, window_ms: int) -> int:
    """The wall-clock window an event falls in; its first 5 s still belong to the window before."""
    bucket = event_ms // window_ms
    if event_ms - bucket * window_ms < GRACE_MS:
        bucket -= 1
    return bucket


def bucket_end_ms(bucket: int, window_ms: int) -> int:
    """The last millisecond of a bucket (it runs from window start + grace to the next one's)."""
    return (bucket + 1) * window_ms + GRACE_MS - 1


def session_id_for(project_id: str, device: str, bucket: int) -> str:
    digest = hashlib.sha256(f"sess:v1:{project_id}:{device}:{bucket}".encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def client_session_id_for(project_id: str, device: str, client_session: str) -> str:
    """The session of a client that decided its sessions itself (`__sessionId`, contract §6.2 rule 0):
    scoped by project and device, so two devices that both say "1" keep two sessions."""
    digest = hashlib.sha256(f"sess:client:{project_id}:{device}:{client_session}".encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def uuid_from(text: str | bytes) -> str:
    """The first 16 bytes of the SHA-256 of the text (UTF-8), spelled as a UUID (str(uuid.UUID(bytes=...)),
    without the object)."""
    h = hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def session_row_id(project_id: str, session_id: str, name: str) -> str:
    """The id of a `session_start` / `session_end` row: one per session, whoever writes it."""
    return uuid_from(f"{project_id}:{session_id}:{name}")
