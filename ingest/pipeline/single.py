"""A single `/track` event in one Redis round trip (issue 13): one Lua script admits it (quota,
high-water mark, the duplicate guard: ingest/pipeline/admission.py), looks up its device's live
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

import orjson

from ingest.pipeline import admission
from sessions_app.live import LiveSession, read_lookup
from storage import buffers, counters, keys, redis

logger = logging.getLogger(__name__)

# Replies: 0 pushed, 3 a duplicate, 4 an unknown profile (nothing pushed); 1 and 2 are admission's refusals.
DUPLICATE, UNKNOWN_PROFILE = 3, 4
# Which packet the script pushed.
PUSHED_NOTHING, PUSHED_LIVE_CURRENT, PUSHED_LIVE_PREVIOUS, PUSHED_BUCKET, PUSHED_BUCKET_TAKEN = range(5)

# KEYS: 1-3 admission's (the guard may be absent: ""), 4-5 the live pointers of the two device ids
# ("" for none; the same key once), 6 the project's known profiles, 7-8 the event buffer and its
# drain flag, 9-10 the profile buffer and its flag, 11-12 today's accepted counts and the totals.
# ARGV: 1-7 admission's, then 8 the event's time, 9 the session timeout, 10 the profile an
# increment needs ("" none), 11 the project id, 12 rows, 13 counts ttl, 14 flag ttl, 15 the bucket's
# session id, 16 the change packet ("" none), 17 the bucket packet ("" no event), 18 the taken-
# bucket packet, 19-20 the two halves of the packet joining the current salt's live session,
# 21-22 the previous salt's, 23... profiles identified now.
_SINGLE = admission.ADMIT_FUNCTION + """
local admitted = admit({KEYS[1], KEYS[2], KEYS[3] ~= '' and KEYS[3] or false}, ARGV)
if admitted[1] == 1 or admitted[1] == 2 then return admitted end
local function state(key)
  if key == '' then return {false, false, false} end
  local found = redis.call('HMGET', key, 'sid', 'first', 'last')
  return {found[1] or false, found[2] or false, found[3] or false}
end
local current, previous = state(KEYS[4]), state(KEYS[5])
local reply = {admitted[1], admitted[2], admitted[3], 0, 0, 0,
  current[1], current[2], current[3], previous[1], previous[2], previous[3]}
if admitted[1] == 3 then return reply end
if ARGV[10] ~= '' and redis.call('SISMEMBER', KEYS[6], ARGV[10]) == 0 then
  reply[1] = 4
  return reply
end

local ms, timeout = tonumber(ARGV[8]), tonumber(ARGV[9])
local function inside(s)
  return s[1] and s[2] and s[3] and tonumber(s[2]) - timeout <= ms and ms <= tonumber(s[3]) + timeout
end
-- The session id as JSON text: ours are base64url with a dot and digits at most; anything else cjson spells.
local function spelled(sid)
  if string.match(sid, '^[%w%-_%.]+$') then return '"' .. sid .. '"' end
  return cjson.encode(sid)
end
if ARGV[17] ~= '' then
  local packet, pushed
  if inside(current) then
    packet, pushed = ARGV[19] .. spelled(current[1]) .. ARGV[20], 1
  elseif KEYS[5] ~= '' and inside(previous) then
    packet, pushed = ARGV[21] .. spelled(previous[1]) .. ARGV[22], 2
  elseif current[1] and current[2] and current[3] and current[1] == ARGV[15] then
    packet, pushed = ARGV[18], 4
  else
    packet, pushed = ARGV[17], 3
  end
  redis.call('RPUSH', KEYS[7], packet)
  reply[4] = pushed
  reply[5] = redis.call('SET', KEYS[8], 1, 'NX', 'EX', ARGV[14]) and 1 or 0
end
if ARGV[16] ~= '' then
  redis.call('RPUSH', KEYS[9], ARGV[16])
  reply[6] = redis.call('SET', KEYS[10], 1, 'NX', 'EX', ARGV[14]) and 1 or 0
end
redis.call('HINCRBY', KEYS[11], ARGV[11], ARGV[12])
redis.call('EXPIRE', KEYS[11], ARGV[13])
redis.call('HINCRBY', KEYS[12], ARGV[11], ARGV[12])
if #ARGV > 22 then redis.call('SADD', KEYS[6], unpack(ARGV, 23)) end
return reply
"""


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
    change_packet: bytes = b"", identified: tuple[str, ...] = (),
) -> Outcome:  # fmt: skip
    """Admit, look up, check and push in one call. Raises admission.Overloaded / QuotaExceeded,
    RedisError. `devices`: the ids whose live state matters, the current salt's first."""
    admit_keys, admit_args, read = admission.check_call(project, 1)
    looked_up = (devices + ["", ""])[:2]
    script_keys = [
        *admit_keys[:2], duplicate_key,
        *(keys.live_device(project.id, device) if device else "" for device in looked_up),
        keys.known_profiles(project.id),
        buffers.EVENT_BUFFER.key, buffers.EVENT_BUFFER.flag, buffers.PROFILE_BUFFER.key, buffers.PROFILE_BUFFER.flag,
        keys.accepted_counts(counters.day_of(received_ms)), keys.TOTAL_ACCEPTED,
    ]  # fmt: skip
    empty = (b"", b"")
    args = [
        *admit_args, event_ms, timeout_ms, profile, project.id, 1, counters.COUNTS_SECONDS,
        buffers.DRAIN_FLAG_SECONDS, packets.bucket_session if packets else "", change_packet,
        packets.bucket if packets else b"", packets.bucket_taken if packets else b"",
        *(packets.live_current if packets else empty), *(packets.live_previous if packets else empty), *identified,
    ]  # fmt: skip
    reply = redis.script(_SINGLE)(keys=script_keys, args=args)
    verdict = int(reply[0])
    admitted = read(reply if verdict != UNKNOWN_PROFILE else [0, *reply[1:]])
    states = [reply[6:9], reply[9:12]][: len(devices)]
    outcome = Outcome(admitted, read_lookup(devices, states), int(reply[3]), unknown_profile=verdict == UNKNOWN_PROFILE)
    if outcome.pushed:
        buffers.EVENT_BUFFER.after_push(flag_was_set=bool(reply[4]))
    if change_packet and verdict == 0:
        buffers.PROFILE_BUFFER.after_push(flag_was_set=bool(reply[5]))
    return outcome


def halves(packet: bytes, session_sentinel: str) -> tuple[bytes, bytes]:
    """A packet split around the JSON string of its session id, which the script fills in."""
    spelled = orjson.dumps(session_sentinel)
    before, found, after = packet.partition(spelled)
    if not found or spelled in after:
        raise RuntimeError("the packet does not hold the session id once as JSON text")
    return before, after
