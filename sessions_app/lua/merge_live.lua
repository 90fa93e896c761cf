-- Merge one device's runs of live events into its live sessions, atomically (spec §7, live branch).
-- A session's hash keeps what its end row needs, each value at most 64 bytes (sessions_app/bounds.py):
-- device (its key ref), first, last, views, seen (the fingerprints of its latest screen views: a
-- screen view sent again is counted once), exit (cut), profile (its ref), mark (for its ended
-- marker), due (a client session's earliest end: sessions_app/client.py) and ms/chunk, its start so
-- far (sessions_app/lua/claim_starts.lua).
-- Idempotent per chunk: the first run of a chunk records where each of the device's runs went in the
-- chunk's own hash (KEYS[3]); a job that runs again returns that and changes nothing, even when the
-- session has ended meanwhile. The chunk's hash is deleted once the chunk is written.
--
-- KEYS[1] device pointer hash (sid, first, last)   KEYS[2] zset of live-session deadlines
-- KEYS[3] the chunk's decisions (field: "project|device"; value: "sid,first,mark" per run, spaced)
-- ARGV: session key prefix, deadline member prefix, start-record key prefix (historical sessions),
--       timeout ms, state ttl ms, decisions ttl ms, device (its key ref), decisions field,
--       bytes of fingerprints kept, bytes of one fingerprint,
--       then 10 values per run: api sid, bucket sid, ended-sessions hash of its bucket, first ms,
--       last ms, exit path (cut), screen-view fingerprints, profile ref ("" for none), the profile's
--       live-session pointer key, mark, the ended-sessions hashes to look in for a client session
--       (space-separated; '' for any other run), the earliest end ms (0: none)
-- Returns {sid, first, mark, ...} per run: first = 1 when the run holds the earliest event its session
-- has seen (the chunk offers the session's start: sessions_app/starts.py decides); mark = the session's.
local HEADER, PER_RUN = 10, 12
assert(#KEYS == 3 and #ARGV > HEADER and (#ARGV - HEADER) % PER_RUN == 0, 'merge_live: wrong arity')
local device_key, ends_key, decisions_key = KEYS[1], KEYS[2], KEYS[3]
local session_prefix, member_prefix, record_prefix = ARGV[1], ARGV[2], ARGV[3]
local timeout, ttl, decisions_ttl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local device, field, seen_bytes, print_bytes = ARGV[7], ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10])

local decided = redis.call('HGET', decisions_key, field)
if decided then  -- the job runs again: what it decided the first time
  local result = {}
  for sid, first, mark in string.gmatch(decided, '([^ ,]+),(%d),([^ ,]+)') do
    table.insert(result, sid); table.insert(result, tonumber(first)); table.insert(result, mark)
  end
  return result
end

local function covers(sid, first)
  local times = redis.call('HMGET', session_prefix .. sid, 'first', 'last')
  if not times[1] then return false end
  return first >= tonumber(times[1]) - timeout and first <= tonumber(times[2]) + timeout
end

-- The session a run goes to: the API's live session, else the device's current one, when its time
-- falls inside; else its bucket's id, unless that id is another session's: a live one this run is
-- outside of (timeout < window), a historical one (it has a start record) or an ended one (never
-- reopened). Then the id with its first event's time appended, and a number after that if needed.
local function place(api_sid, bucket_sid, ended_key, first_s)
  local first = tonumber(first_s)
  if api_sid ~= '' and covers(api_sid, first) then return api_sid end
  local current = redis.call('HGET', device_key, 'sid')
  if current and covers(current, first) then return current end
  local sid = bucket_sid
  for n = 1, 100 do
    if redis.call('EXISTS', session_prefix .. sid) == 1 then
      if covers(sid, first) then return sid end
    elseif redis.call('HEXISTS', ended_key, sid) == 0 and redis.call('EXISTS', record_prefix .. sid) == 0 then
      return sid
    end
    sid = bucket_sid .. '.' .. first_s
    if n > 1 then sid = sid .. '.' .. (n - 1) end
  end
  return sid
end

-- A client's own session (contract §6.2 rule 0) is the client's id whatever the times: joined while
-- it lives; once ended, never reopened: the rest of it goes on as <id>.1 (then .2, ...), joined the same way.
local function ended_in(hashes, sid)
  for hash in string.gmatch(hashes, '%S+') do
    if redis.call('HEXISTS', hash, sid) == 1 then return true end
  end
  return false
end

local function place_client(api_sid, hashes)
  local sid = api_sid
  for n = 1, 100 do
    if redis.call('EXISTS', session_prefix .. sid) == 1 then return sid end
    if not ended_in(hashes, sid) then return sid end
    sid = api_sid .. '.' .. n
  end
  return sid
end

-- Whether a fingerprint is one of those in `seen` (each `print_bytes` long).
local function known(seen, print)
  local at = string.find(seen, print, 1, true)
  while at do
    if (at - 1) % print_bytes == 0 then return true end
    at = string.find(seen, print, at + 1, true)
  end
  return false
end

local function count(views, seen, prints)
  for i = 1, #prints, print_bytes do
    local print = string.sub(prints, i, i + print_bytes - 1)
    if not known(seen, print) then
      views = views + 1
      seen = seen .. print
      if #seen > seen_bytes then seen = string.sub(seen, #seen - seen_bytes + 1) end
    end
  end
  return views, seen
end

local function merge(sid, first_s, last_s, exit_path, prints, profile, profile_key, mark, due)
  local first, last = tonumber(first_s), tonumber(last_s)
  local session_key = session_prefix .. sid
  if redis.call('EXISTS', session_key) == 0 then
    redis.call('HSET', session_key, 'device', device, 'first', first_s, 'last', last_s, 'views', 0, 'exit', exit_path,
      'mark', mark)
  end
  local state = redis.call('HMGET', session_key, 'first', 'last', 'views', 'seen', 'profile', 'mark', 'due')
  local views, seen = count(tonumber(state[3]), state[4] or '', prints)
  local fields = {'views', views, 'seen', seen}
  due = math.max(due, tonumber(state[7] or '0'))
  if due > 0 then table.insert(fields, 'due'); table.insert(fields, string.format('%d', due)) end
  if first < tonumber(state[1]) then
    table.insert(fields, 'first'); table.insert(fields, first_s)
  end
  local latest_profile = state[5] or ''
  if last >= tonumber(state[2]) then
    table.insert(fields, 'last'); table.insert(fields, last_s)
    if exit_path ~= '' then table.insert(fields, 'exit'); table.insert(fields, exit_path) end
    if profile ~= '' then latest_profile = profile end
  elseif latest_profile == '' then
    latest_profile = profile
  end
  if latest_profile ~= '' then table.insert(fields, 'profile'); table.insert(fields, latest_profile) end
  redis.call('HSET', session_key, unpack(fields))
  local times = redis.call('HMGET', session_key, 'first', 'last')
  local pointer = redis.call('HMGET', device_key, 'sid', 'last')
  if not pointer[1] or pointer[1] == sid or tonumber(times[2]) >= tonumber(pointer[2]) then
    redis.call('HSET', device_key, 'sid', sid, 'first', times[1], 'last', times[2])
  end
  redis.call('ZADD', ends_key, math.max(tonumber(times[2]) + timeout, due), member_prefix .. sid)
  redis.call('PEXPIRE', session_key, ttl)
  redis.call('PEXPIRE', device_key, ttl)
  -- The pointer of the profile this run names, when it is the session's latest (a session that goes
  -- on without naming its profile again keeps the pointer's expiry, days longer than the timeout).
  if profile ~= '' and latest_profile == profile then
    redis.call('SET', profile_key, sid, 'PX', ttl)
  end
  local held = 0
  if first <= tonumber(times[1]) then held = 1 end
  return held, state[6] or mark
end

local result, decisions = {}, {}
for base = HEADER, #ARGV - 1, PER_RUN do
  local api_sid, bucket_sid, ended_key = ARGV[base + 1], ARGV[base + 2], ARGV[base + 3]
  local first_s, last_s, exit_path, prints = ARGV[base + 4], ARGV[base + 5], ARGV[base + 6], ARGV[base + 7]
  local profile, profile_key, mark = ARGV[base + 8], ARGV[base + 9], ARGV[base + 10]
  local client_hashes, due = ARGV[base + 11], tonumber(ARGV[base + 12])
  local sid
  if client_hashes ~= '' then sid = place_client(api_sid, client_hashes) else sid = place(api_sid, bucket_sid, ended_key, first_s) end
  local held, session_mark = merge(sid, first_s, last_s, exit_path, prints, profile, profile_key, mark, due)
  table.insert(result, sid); table.insert(result, held); table.insert(result, session_mark)
  table.insert(decisions, sid .. ',' .. held .. ',' .. session_mark)
end
redis.call('HSET', decisions_key, field, table.concat(decisions, ' '))
redis.call('PEXPIRE', decisions_key, decisions_ttl)
return result
