-- After a chunk inserted the start rows it won: is each still the session's best? ReplacingMergeTree
-- keeps the row inserted last, so when an earlier start was claimed meanwhile (another chunk, another
-- worker) and its insert may have landed before ours, the caller inserts that best row once more.
-- A record is a historical session's start record or a live session's state (sessions_app/lua/claim_starts.lua).
-- KEYS[1] set of start rows left on an earlier start's later day ("project|id|epoch day")
-- ARGV: 4 values per start row: record key, row key, start ms, deletion member prefix
-- Returns one value per row: "" when it still stands, else the best row's JSON to insert again.
assert(#KEYS == 1 and #ARGV % 4 == 0, 'confirm_starts: wrong arity')
local function day(ms) return math.floor(ms / 86400000) end
local result = {}
for i = 1, #ARGV, 4 do
  local record, row_key, ms, prefix = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  local best = tonumber(redis.call('HGET', record, 'ms'))
  if best and best ~= ms then
    if day(best) ~= day(ms) then redis.call('SADD', KEYS[1], prefix .. day(ms)) end
    table.insert(result, redis.call('GET', row_key) or '')
  else
    table.insert(result, '')
  end
end
return result
