-- Which chunk writes each session's start row (spec §7 r2): the start sits 100 ms before the
-- earliest event seen so far and only ever moves earlier. Per session a record holds the start
-- written so far (ms, its day, the chunk that wrote it); a candidate wins when it is earlier, or
-- when it is the same chunk again (a re-run job writes its row again).
-- KEYS[1] set of start rows left on another day ("project|id|day"), deleted by the sweep
-- ARGV: record ttl ms, row ttl ms, chunk id, then 9 values per candidate:
--       record key, row key, start ms, its day, the row (JSON), live ("1"/"0"),
--       the start ClickHouse holds when Redis has no record (ms, day; "" when unknown), deletion prefix
-- Returns one flag per candidate: 1 when this chunk writes the session's start row.
local record_ttl, row_ttl, chunk = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local result = {}
for i = 4, #ARGV, 9 do
  local record, row_key, ms, day, row, live = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  local stored_ms, stored_day, prefix = ARGV[i + 6], ARGV[i + 7], ARGV[i + 8]
  local state = redis.call('HMGET', record, 'ms', 'day', 'chunk')
  local best, best_day, owner = tonumber(state[1]), state[2], state[3]
  if not best and stored_ms ~= '' then
    best, best_day, owner = tonumber(stored_ms), stored_day, ''
    redis.call('HSET', record, 'ms', stored_ms, 'day', stored_day, 'chunk', '')
  end
  local wins = 0
  if not best or ms < best or (ms == best and owner == chunk) then
    wins = 1
    if best_day and best_day ~= day then redis.call('SADD', KEYS[1], prefix .. best_day) end
    redis.call('HSET', record, 'ms', ms, 'day', day, 'chunk', chunk)
    redis.call('SET', row_key, row, 'PX', row_ttl)
  end
  if live == '1' then redis.call('HSET', record, 'live', '1') end
  redis.call('PEXPIRE', record, record_ttl)
  table.insert(result, wins)
end
return result
