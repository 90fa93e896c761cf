-- Forget a live session once its session_end row is stored, unless an event extended it meanwhile.
-- KEYS[1] session hash, KEYS[2] chunk set, KEYS[3] deadline zset, KEYS[4] device pointer,
-- KEYS[5] live-profile pointer (or the session hash again when there is no profile),
-- KEYS[6] the session's start record
-- ARGV[1] the session's `last` as read before writing the end row, ARGV[2] deadline member, ARGV[3] sid,
-- ARGV[4] how long the start record and the chunk set outlive the session (ms)
-- The start record stays, marked live: the id is never given to another session (spec §7 r2); the
-- chunk set stays, so that a job that merged into the session and runs again finds it.
-- Returns 1 when the session was forgotten (or was already gone), 0 when it had moved on.
local last = redis.call('HGET', KEYS[1], 'last')
if last and last ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
if redis.call('TYPE', KEYS[6]).ok == 'string' then redis.call('DEL', KEYS[6]) end  -- the release before's lock
redis.call('HSET', KEYS[6], 'live', '1')
redis.call('PEXPIRE', KEYS[6], ARGV[4])
redis.call('ZREM', KEYS[3], ARGV[2])
if redis.call('HGET', KEYS[4], 'sid') == ARGV[3] then redis.call('DEL', KEYS[4]) end
if KEYS[5] ~= KEYS[1] and redis.call('GET', KEYS[5]) == ARGV[3] then redis.call('DEL', KEYS[5]) end
return 1
