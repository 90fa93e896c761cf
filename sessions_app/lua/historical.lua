-- Historical sessions of one chunk (spec §7, historical branch), in one round trip:
-- each is due to end `timeout` after now (at once when it had already ended: a late event), and
-- the chunk tries its start lock (SET NX keyed on the session id; a re-run of the chunk that took
-- it before still holds it).
-- KEYS[1] zset of historical-session deadlines
-- ARGV: now ms, timeout ms, lock ms, chunk id, then per session: zset member, lock key, ended key
-- Returns one flag per session: 1 when this chunk writes its session_start.
local now, timeout, lock_ms, chunk = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local won = {}
for i = 5, #ARGV, 3 do
  local member, lock, ended = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local due = now + timeout
  if redis.call('EXISTS', ended) == 1 then due = now end
  redis.call('ZADD', KEYS[1], due, member)
  if redis.call('SET', lock, chunk, 'NX', 'PX', lock_ms) or redis.call('GET', lock) == chunk then
    table.insert(won, 1)
  else
    table.insert(won, 0)
  end
end
return won
