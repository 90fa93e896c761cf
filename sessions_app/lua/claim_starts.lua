-- Which chunk writes each session's start row (spec §7 r2): the start sits 100 ms before the
-- earliest event seen so far and only ever moves earlier. A record holds the start written so far
-- (ms, the chunk that wrote it): a historical session's own hash, a live session's state hash. A
-- candidate wins when it is earlier, or when it is the same chunk again (a re-run job writes its
-- row again). A live session that has ended meanwhile (a job run again after the end) keeps the
-- start its ended marker holds: the candidate wins only when it is not later than that one.
-- When a start replaces one whose chunk is still being written (its decisions hash exists), the
-- better row is kept for `row ttl`: that chunk's insert may land after this one's, and it inserts
-- the better row again (sessions_app/lua/confirm_starts.lua). While such a copy exists, every better
-- start replaces it, whoever owned the start before: the chunk that made the copy needed may still
-- be writing.
-- KEYS[1] set of start rows left on an earlier start's later day ("project|id|epoch day"), for the sweep
-- KEYS[2] this chunk's decisions hash: it exists while the chunk is being written
-- ARGV: record ttl ms, row ttl ms, chunk id, decisions key prefix, decisions ttl ms, then 9 values per
--       candidate: record key, row key, ended-sessions hash ("" for a historical session), session id,
--       start ms, the row (JSON), live ("1"/"0"), the start ClickHouse holds when asked ("" if not),
--       deletion member prefix ("project|id|")
-- Returns one flag per candidate: 1 when this chunk writes the session's start row.
local HEADER, PER = 5, 9
assert(#KEYS == 2 and #ARGV >= HEADER and (#ARGV - HEADER) % PER == 0, 'claim_starts: wrong arity')
local record_ttl, row_ttl, chunk, chunk_prefix = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local function day(ms) return math.floor(ms / 86400000) end
-- The release before kept a plain string here (its start lock); a record is a hash.
local function as_record(key)
  if redis.call('TYPE', key).ok == 'string' then redis.call('DEL', key) end
end
local function in_flight(owner)
  return owner and owner ~= '' and owner ~= chunk and redis.call('EXISTS', chunk_prefix .. owner) == 1
end
redis.call('HSET', KEYS[2], '', 1)
redis.call('PEXPIRE', KEYS[2], ARGV[5])
local result = {}
for i = HEADER + 1, #ARGV, PER do
  local record, row_key, ended, sid = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local ms, row, live, stored, prefix = tonumber(ARGV[i + 4]), ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], ARGV[i + 8]
  local wins = 0
  if live == '1' and redis.call('EXISTS', record) == 0 then
    local best = tonumber(redis.call('HGET', ended, sid))
    if not best or ms <= best then wins = 1 end
  else
    as_record(record)
    local state = redis.call('HMGET', record, 'ms', 'chunk')
    local best, owner = tonumber(state[1]), state[2]
    if not best and stored ~= '' then
      best, owner = tonumber(stored), ''
      redis.call('HSET', record, 'ms', stored, 'chunk', '')
    end
    if not best or ms < best or (ms == best and owner == chunk) then
      wins = 1
      if best and day(best) ~= day(ms) then redis.call('SADD', KEYS[1], prefix .. day(best)) end
      redis.call('HSET', record, 'ms', ms, 'chunk', chunk)
      -- A copy kept already means a chunk replaced earlier may still be writing: it must find
      -- this better row, not the one the copy held.
      if best and (in_flight(owner) or redis.call('EXISTS', row_key) == 1) then
        redis.call('SET', row_key, row, 'PX', row_ttl)
      end
    end
    if live == '0' then redis.call('PEXPIRE', record, record_ttl) end
  end
  table.insert(result, wins)
end
return result
