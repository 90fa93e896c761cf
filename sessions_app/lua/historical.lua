-- Historical sessions of one chunk (spec §7, historical branch), in one round trip: each gets its
-- final id and is due to end `timeout` after now (at once when it had already ended: a late event).
-- A bucket whose id belongs to a live session, live or ended, is never reopened: its buffered events
-- form the session `<id>.late` instead.
-- KEYS[1] zset of historical-session deadlines
-- ARGV: now ms, timeout ms, then 9 values per session: member prefix ("project|"), sid, bucket,
--       start record of sid, ended key of sid, start record of sid.late, ended key of sid.late,
--       live-session hash of sid, ended-sessions hash of the bucket's day
-- Returns {sid, has_record, ...}: has_record = 1 when Redis knows the session's start so far.
local PER_SESSION = 9
assert(#KEYS == 1 and #ARGV >= 2 and (#ARGV - 2) % PER_SESSION == 0, 'historical: wrong arity')
local now, timeout = tonumber(ARGV[1]), tonumber(ARGV[2])
-- The release before kept a plain string here (its start lock); a record is a hash.
local function as_record(key)
  if redis.call('TYPE', key).ok == 'string' then redis.call('DEL', key) end
end
local result = {}
for i = 3, #ARGV, PER_SESSION do
  local prefix, sid, bucket = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local record, ended = ARGV[i + 3], ARGV[i + 4]
  as_record(record)
  local live = redis.call('EXISTS', ARGV[i + 7]) == 1 or redis.call('HEXISTS', ARGV[i + 8], sid) == 1
    or redis.call('HGET', record, 'live') == '1'  -- the release before marked live sessions so
  if live then
    sid, record, ended = sid .. '.late', ARGV[i + 5], ARGV[i + 6]
    as_record(record)
  end
  local due = now + timeout
  if redis.call('EXISTS', ended) == 1 then due = now end
  redis.call('ZADD', KEYS[1], due, prefix .. sid .. '|' .. bucket)
  table.insert(result, sid)
  table.insert(result, redis.call('EXISTS', record))
end
return result
