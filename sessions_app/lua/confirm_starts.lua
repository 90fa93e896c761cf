-- After a chunk inserted the start rows it won: is each still the session's best? ReplacingMergeTree
-- keeps the row inserted last, so when an earlier start was claimed meanwhile (another chunk, another
-- worker) and its insert may have landed before ours, the caller inserts that best row once more.
-- KEYS[1] set of start rows left on another day ("project|id|day")
-- ARGV: 5 values per start row: record key, row key, start ms, its day, deletion prefix
-- Returns one value per row: "" when it still stands, else the best row's JSON to insert again.
local result = {}
for i = 1, #ARGV, 5 do
  local record, row_key, ms, day, prefix = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3], ARGV[i + 4]
  local state = redis.call('HMGET', record, 'ms', 'day')
  local best = tonumber(state[1])
  if best and best ~= ms then
    if state[2] ~= day then redis.call('SADD', KEYS[1], prefix .. day) end
    table.insert(result, redis.call('GET', row_key) or '')
  else
    table.insert(result, '')
  end
end
return result
