-- Forget a live session once its session_end row is stored, unless an event extended it meanwhile.
-- KEYS[1] session hash, KEYS[2] chunk set, KEYS[3] deadline zset, KEYS[4] device pointer,
-- KEYS[5] live-profile pointer (or the session hash again when there is no profile)
-- ARGV[1] the session's `last` as read before writing the end row, ARGV[2] deadline member, ARGV[3] sid
-- Returns 1 when the session was forgotten (or was already gone), 0 when it had moved on.
local last = redis.call('HGET', KEYS[1], 'last')
if last and last ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[2])
if redis.call('HGET', KEYS[4], 'sid') == ARGV[3] then redis.call('DEL', KEYS[4]) end
if KEYS[5] ~= KEYS[1] and redis.call('GET', KEYS[5]) == ARGV[3] then redis.call('DEL', KEYS[5]) end
return 1
