"""A single `/track` event in one Redis round trip (issue 13): one Lua script (lua/single.lua)
admits it (quota, device budget, high-water mark, the duplicate guard: ingest/pipeline/admission.py),
looks up its device's live
sessions (contract §6.2), checks the profile of an increment / decrement, and pushes it to its
buffer with the accepted count, all in one call.

Where the event goes depends on the live sessions the script reads, so the API sends every
packet the event can become, built by the one set of rules in Python (sessions_app.assign.place
on each possible state): joining the live session of the device under the current salt or the
previous one (the session id is only known inside the script, so those packets come in two
halves around it), or its time bucket (and the bucket's id made distinct when a live session
already holds it). The script picks with the rule of `place` for one event, which
`tests/integration/test_single_trip.py` holds to `place` itself; the API places the event again
from the states the script returns, for its answer, and logs if the two ever differ.
"""
import logging
from dataclasses import dataclass
from typing import NamedTuple

import orjson

from ingest.pipeline import admission
from sessions_app import assign
from sessions_app.live import LiveSession, read_lookup
from storage.queue import buffers
from storage.redis import client as redis
from storage.redis import counters, keys

logger = logging.getLogger(__name__)

# Replies: 0 pushed, 3 a duplicate, 4 an unknown profile (nothing pushed); 1, 2 and 5 are admission's refusals.
DUPLICATE, UNKNOWN_PROFILE = admission.DUPLICATE, 4
# Which packet the script pushed.
PUSHED_NOTHING, PUSHED_LIVE_CURRENT, PUSHED_LIVE_PREVIOUS, PUSHED_BUCKET, PUSHED_BUCKET_TAKEN = range(5)


class Reply(NamedTuple):
    """lua/single.lua's answer, by name, in the order the script returns it."""

    code: int  # admission's verdict, or UNKNOWN_PROFILE
    wait_ms: int
    lane: int
    pushed: int  # PUSHED_*
    event_flag_set: bool
    profile_flag_set: bool
    # The device's live sessions under the current salt and the previous one (None: none).
    current_sid: bytes | None
    current_first: bytes | None
    current_last: bytes | None
    previous_sid: bytes | None
    previous_first: bytes | None
    previous_last: bytes | None
    tokens: int  # what the project's bucket had left

    @classmethod
    def of(cls, reply: list) -> "Reply":
        code, wait_ms, lane, pushed, event_flag, profile_flag, sid, first, last, old, old_first, old_last, left = reply
        return cls(int(code or 0), int(wait_ms or 0), int(lane or 0), int(pushed), bool(event_flag), bool(profile_flag),
                   sid, first, last, old, old_first, old_last, int(left or 0))  # fmt: skip

    @property
    def verdict(self) -> admission.Verdict:
        return admission.Verdict(self.code, self.wait_ms, self.lane, self.tokens)

    @property
    def states(self) -> list:
        """[sid, first, last] of the current salt's device, then of the previous salt's (as read_lookup reads)."""
        return [
            [self.current_sid, self.current_first, self.current_last],
            [self.previous_sid, self.previous_first, self.previous_last],
        ]


SINGLE = redis.Script(__file__, "single", Reply.of, uses=(admission.ADMIT_LUA, assign.PLACE_LUA))


@dataclass(slots=True)
class Packets:
    """What the event can become, encoded as it waits in the event buffer."""

    bucket: bytes
    bucket_taken: bytes  # the bucket's id already names a live session of the device
    bucket_session: str
    live_current: tuple[bytes, bytes] = (b"", b"")  # the halves around the live session's id
    live_previous: tuple[bytes, bytes] = (b"", b"")


@dataclass(slots=True)
class Outcome:
    admission: admission.Admission
    live: dict[str, LiveSession]  # the device's live sessions the script read
    pushed: int
    unknown_profile: bool = False


def run(
    project, received_ms: int, devices: list[str], event_ms: int, timeout_ms: int, *,
    duplicate_key: str = "", profile: str = "", packets: Packets | None = None,
    change_packet: bytes = b"", identified: tuple[str, ...] = (), body_bytes: int = 0, starts_live: bool = False,
) -> Outcome:  # fmt: skip
    """Admit, look up, check and push in one call. Raises admission.Overloaded / QuotaExceeded,
    RedisError. `devices`: the ids whose live state matters, the current salt's first; `starts_live`:
    the event starts a live session when its device has none (it counts against the device budget)."""
    looked_up = (devices + ["", ""])[:2]
    script_keys = [
        keys.quota(project.id), keys.MEMORY_READING, duplicate_key,
        *(keys.live_device(project.id, device) if device else "" for device in looked_up),
        keys.known_profiles(project.id),
        buffers.EVENT_BUFFER.key, buffers.EVENT_BUFFER.flag, buffers.PROFILE_BUFFER.key, buffers.PROFILE_BUFFER.flag,
        keys.accepted_counts(counters.day_of(received_ms)), keys.TOTAL_ACCEPTED,
    ]  # fmt: skip
    empty = (b"", b"")
    args = [
        *admission.args(project, admission.cost(project, 1, body_bytes)), event_ms, timeout_ms, profile, project.id,
        1, counters.COUNTS_SECONDS, buffers.DRAIN_FLAG_SECONDS, packets.bucket_session if packets else "",
        change_packet, packets.bucket if packets else b"", packets.bucket_taken if packets else b"",
        *(packets.live_current if packets else empty), *(packets.live_previous if packets else empty),
        "1" if starts_live else "0", *identified,
    ]  # fmt: skip
    reply = SINGLE(script_keys, args)
    unknown = reply.code == UNKNOWN_PROFILE
    verdict = admission.Verdict(admission.ADMITTED, 0, 0, reply.tokens) if unknown else reply.verdict
    admitted = admission.reader(project, 1)(verdict)
    live = read_lookup(devices, reply.states[: len(devices)])
    outcome = Outcome(admitted, live, reply.pushed, unknown_profile=unknown)
    if outcome.pushed:
        buffers.EVENT_BUFFER.after_push(flag_was_set=reply.event_flag_set)
    if change_packet and reply.code == admission.ADMITTED:
        buffers.PROFILE_BUFFER.after_push(flag_was_set=reply.profile_flag_set)
    return outcome


def halves(packet: bytes, session_sentinel: str) -> tuple[bytes, bytes]:
    """A packet split around the JSON string of its session id, which the script fills in."""
    spelled = orjson.dumps(session_sentinel)
    before, found, after = packet.partition(spelled)
    if not found or spelled in after:
        raise RuntimeError("the packet does not hold the session id once as JSON text")
    return before, after
