"""What waits in Redis is built and read by contract.messages, with a format version."""
import orjson
import pytest

from contract import messages
from ingest.worker import registry
from storage.queue import queues

CTX = {"project_id": "p", "backfill_days": 5, "received_ms": 1, "ip": "", "sdk_name": "", "sdk_version": "",
       "geo": {}, "agent": {}}  # fmt: skip


def test_built_messages_carry_the_format_and_read_back():
    packet = messages.event_packet(CTX, [])
    chunk = messages.chunk([packet])
    assert chunk["v"] == packet["v"] == messages.FORMAT
    assert messages.read_chunk(queues.JobSerializer.loads(queues.JobSerializer.dumps(chunk))) == chunk
    assert messages.read_change_packet(messages.change_packet(CTX, []))["changes"] == []


def test_two_chunks_never_share_an_id():
    assert messages.chunk([])["chunk_id"] != messages.chunk([])["chunk_id"]


def test_messages_of_the_release_before_have_no_version_and_read_as_version_1():
    old = {"chunk_id": "c", "packets": [{"ctx": CTX, "events": []}]}
    assert messages.read_chunk(old) is old


@pytest.mark.parametrize("version", [messages.FORMAT + 1, "2", None])
def test_a_newer_or_unknown_format_is_refused_not_misread(version):
    with pytest.raises(messages.UnknownFormat):
        messages.read_chunk({"v": version, "chunk_id": "c", "packets": []})
    with pytest.raises(messages.UnknownFormat):
        messages.read_chunk({"chunk_id": "c", "packets": [{"v": version, "ctx": CTX, "events": []}]})


def test_renamed_jobs_point_at_current_names():
    current = {registry.PROCESS_EVENTS, registry.DRAIN_EVENTS, registry.DRAIN_PROFILE_CHANGES,
               registry.STORE_REJECTED_SAMPLES, registry.RUN_PERIODIC}  # fmt: skip
    assert set(registry.RENAMED.values()) <= current
    assert not set(registry.RENAMED) & current


def test_a_packed_packet_reads_back_and_is_smaller():
    event = {"type": "track", "name": "screen_view", "ts": 1, "properties": {"plan": "pro"}, "id": "i",
             "device_id": "d", "session_id": "s"}  # fmt: skip
    packet = messages.event_packet(CTX, [event] * 3)
    packed = messages.pack(packet)
    assert len(packed) < len(orjson.dumps(packet)) / 2
    assert messages.read_event_packet(orjson.loads(packed)) == packet
    changes = messages.change_packet(CTX, [{"type": "identify", "profile_id": "u"}])
    assert messages.read_change_packet(orjson.loads(messages.pack(changes))) == changes


def test_a_packed_packet_that_does_not_unpack_is_malformed():
    with pytest.raises(messages.Malformed):
        messages.read_event_packet({"v": 2, "z": "not base64!"})
    with pytest.raises(messages.Malformed):
        messages.read_event_packet({"v": 2, "z": "aGVsbG8="})  # base64, not deflate


def test_a_version_1_worker_would_set_a_packed_packet_aside_as_newer():
    """What the previous release does with it: its reader refuses any `v` above 1 as a newer format."""
    wrapper = orjson.loads(messages.pack(messages.event_packet(CTX, [])))
    assert wrapper["v"] == 2 and set(wrapper) == {"v", "z"}
