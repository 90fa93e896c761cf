-- Merge one device's runs of live events into its live sessions, atomically (spec §7, live branch).
-- Idempotent per chunk: a re-run job finds its chunk id already applied and counts nothing twice.
--
-- KEYS[1] device pointer hash (sid, first, last)    KEYS[2] zset of live-session deadlines
-- ARGV: session key prefix, chunk-set key prefix, live-profile key prefix, deadline member prefix,
--       start-record key prefix, timeout ms, key ttl ms, chunk id, device id,
--       then 9 values per run:
--       api sid, bucket sid, first ms, last ms, entry path, exit path, screen views, profile id, snapshot
-- Returns {sid, first, sid, first, ...}: first = 1 when the run holds the earliest event its session
-- has seen, so that the chunk offers the session's start (sessions_app/starts.py decides).
local device_key, ends_key = KEYS[1], KEYS[2]
local session_prefix, chunks_prefix, profile_prefix, member_prefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local record_prefix = ARGV[5]
local timeout, ttl, chunk, device = tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8], ARGV[9]
local result = {}

local function covers(sid, first)
  local times = redis.call('HMGET', session_prefix .. sid, 'first', 'last')
  if not times[1] then return false end
  return first >= tonumber(times[1]) - timeout and first <= tonumber(times[2]) + timeout
end

-- A session that ended after this chunk was merged into it (the job runs again): the chunk's
-- events stay in it, and nothing is counted again.
local function ended_with(candidates)
  for _, sid in ipairs(candidates) do
    if redis.call('EXISTS', session_prefix .. sid) == 0 and redis.call('SISMEMBER', chunks_prefix .. sid, chunk) == 1 then
      return sid
    end
  end
  return nil
end

local function merge(sid, first_s, last_s, entry, exit_path, views, profile, snapshot)
  local first, last = tonumber(first_s), tonumber(last_s)
  local session_key = session_prefix .. sid
  local chunks_key = chunks_prefix .. sid
  if redis.call('EXISTS', session_key) == 0 then
    redis.call('HSET', session_key, 'sid', sid, 'device', device, 'first', first_s, 'last', last_s,
      'entry', entry, 'exit', exit_path, 'views', 0, 'profile', profile, 'snapshot', snapshot)
  end
  if redis.call('SADD', chunks_key, chunk) == 1 then
    local state = redis.call('HMGET', session_key, 'first', 'last', 'views', 'profile')
    local fields = {'views', tonumber(state[3]) + views}
    if first < tonumber(state[1]) then
      table.insert(fields, 'first'); table.insert(fields, first_s)
      table.insert(fields, 'entry'); table.insert(fields, entry)
    end
    if last >= tonumber(state[2]) then
      table.insert(fields, 'last'); table.insert(fields, last_s)
      table.insert(fields, 'exit'); table.insert(fields, exit_path)
      if profile ~= '' then table.insert(fields, 'profile'); table.insert(fields, profile) end
    elseif profile ~= '' and state[4] == '' then
      table.insert(fields, 'profile'); table.insert(fields, profile)
    end
    redis.call('HSET', session_key, unpack(fields))
  end
  local state = redis.call('HMGET', session_key, 'first', 'last', 'profile')
  local pointer = redis.call('HMGET', device_key, 'sid', 'last')
  if not pointer[1] or pointer[1] == sid or tonumber(state[2]) >= tonumber(pointer[2]) then
    redis.call('HSET', device_key, 'sid', sid, 'first', state[1], 'last', state[2])
  end
  redis.call('ZADD', ends_key, tonumber(state[2]) + timeout, member_prefix .. sid)
  redis.call('PEXPIRE', session_key, ttl)
  redis.call('PEXPIRE', chunks_key, ttl)
  redis.call('PEXPIRE', device_key, ttl)
  if state[3] ~= '' then
    redis.call('SET', profile_prefix .. state[3], sid, 'PX', ttl)
  end
  if first <= tonumber(state[1]) then return 1 end
  return 0
end

for base = 9, #ARGV - 1, 9 do
  local api_sid, bucket_sid = ARGV[base + 1], ARGV[base + 2]
  local first_s, last_s = ARGV[base + 3], ARGV[base + 4]
  local first = tonumber(first_s)
  local entry, exit_path, views = ARGV[base + 5], ARGV[base + 6], tonumber(ARGV[base + 7])
  local profile, snapshot = ARGV[base + 8], ARGV[base + 9]

  local sid = nil
  if api_sid ~= '' and covers(api_sid, first) then
    sid = api_sid
  else
    local current = redis.call('HGET', device_key, 'sid')
    if current and covers(current, first) then sid = current end
  end
  local done = nil
  if not sid then
    done = ended_with({bucket_sid, bucket_sid .. '.' .. first_s})
  end
  if done then
    table.insert(result, done)
    table.insert(result, 1)  -- its start may still be this chunk's to write (the claim decides)
  else
    if not sid then
      sid = bucket_sid
      -- The bucket's id belongs to another session: a live one this run is not part of (timeout <
      -- window), an ended one, or a historical one (it has a start record). Never reopen it.
      if redis.call('EXISTS', session_prefix .. sid) == 1 or redis.call('EXISTS', record_prefix .. sid) == 1 then
        sid = bucket_sid .. '.' .. first_s
      end
    end
    table.insert(result, sid)
    table.insert(result, merge(sid, first_s, last_s, entry, exit_path, views, profile, snapshot))
  end
end
return result
