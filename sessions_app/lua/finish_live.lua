-- Forget a live session once its session_end row is stored, unless an event extended it meanwhile.
-- What stays is its id in the ended-sessions hash of its bucket's day, with its start's ms: the id is
-- never given to another session (spec §7 r2), and a job that merged into it and runs again offers
-- its start against that one (sessions_app/lua/claim_starts.lua).
-- KEYS[1] session hash, KEYS[2] deadline zset, KEYS[3] device pointer,
-- KEYS[4] live-profile pointer (or the session hash again when there is no profile),
-- KEYS[5] ended-sessions hash, KEYS[6] the release before's start record, KEYS[7] its chunk set
-- ARGV[1] the session's `last` as read before writing the end row, ARGV[2] deadline member, ARGV[3] sid,
-- ARGV[4] ms until which the ended-sessions hash must last, ARGV[5] its `due` as read ('0': none)
-- Returns 1 when the session was forgotten (or was already gone), 0 when it had moved on.
assert(#KEYS == 7 and #ARGV == 5, 'finish_live: wrong arity')
local session, record, sid = KEYS[1], KEYS[6], ARGV[3]
local last = redis.call('HGET', session, 'last')
if last and (last ~= ARGV[1] or (redis.call('HGET', session, 'due') or '0') ~= ARGV[5]) then
  return 0  -- an event came meanwhile (a client session's chunk moves its due)
end
local start = redis.call('HGET', session, 'ms')
if not start and redis.call('TYPE', record).ok == 'hash' then start = redis.call('HGET', record, 'ms') end
-- Deletes first: once a script has written, Redis lets it finish even at maxmemory, so a full Redis
-- frees the session and keeps its marker (the sweep is what frees a full Redis: contract §7 r3).
redis.call('DEL', session, record, KEYS[7])
redis.call('ZREM', KEYS[2], ARGV[2])
if redis.call('HGET', KEYS[3], 'sid') == sid then redis.call('DEL', KEYS[3]) end
if KEYS[4] ~= session and redis.call('GET', KEYS[4]) == sid then redis.call('DEL', KEYS[4]) end
redis.call('HSET', KEYS[5], sid, start or '')
if redis.call('PEXPIRETIME', KEYS[5]) < tonumber(ARGV[4]) then redis.call('PEXPIREAT', KEYS[5], ARGV[4]) end
return 1
