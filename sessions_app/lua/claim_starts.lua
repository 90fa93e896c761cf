-- Which chunk writes each session's start row (spec §7 r2): the start sits 100 ms before the
-- earliest event seen so far and only ever moves earlier. Per session a record holds the start
-- written so far (ms, the chunk that wrote it); a candidate wins when it is earlier, or when it is
-- the same chunk again (a re-run job writes its row again).
-- KEYS[1] set of start rows left on an earlier start's later day ("project|id|epoch day"), for the sweep
-- ARGV: record ttl ms, row ttl ms, chunk id, then 7 values per candidate: record key, row key,
--       start ms, the row (JSON), live ("1"/"0"), the start ClickHouse holds when asked ("" if not),
--       deletion member prefix ("project|id|")
-- Returns one flag per candidate: 1 when this chunk writes the session's start row.
local record_ttl, row_ttl, chunk = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local function day(ms) return math.floor(ms / 86400000) end
-- The release before kept a plain string here (its start lock); a record is a hash.
local function as_record(key)
  if redis.call('TYPE', key).ok == 'string' then redis.call('DEL', key) end
end
local result = {}
for i = 4, #ARGV, 7 do
  local record, row_key, ms, row, live = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3], ARGV[i + 4]
  local stored, prefix = ARGV[i + 5], ARGV[i + 6]
  as_record(record)
  local state = redis.call('HMGET', record, 'ms', 'chunk')
  local best, owner = tonumber(state[1]), state[2]
  if not best and stored ~= '' then
    best, owner = tonumber(stored), ''
    redis.call('HSET', record, 'ms', stored, 'chunk', '')
  end
  local wins = 0
  if not best or ms < best or (ms == best and owner == chunk) then
    wins = 1
    if best and day(best) ~= day(ms) then redis.call('SADD', KEYS[1], prefix .. day(best)) end
    redis.call('HSET', record, 'ms', ms, 'chunk', chunk)
    -- Only a start that replaces another can race with it; a session's first start needs no copy.
    if best then redis.call('SET', row_key, row, 'PX', row_ttl) end
  end
  if live == '1' then redis.call('HSET', record, 'live', '1') end
  redis.call('PEXPIRE', record, record_ttl)
  table.insert(result, wins)
end
return result
