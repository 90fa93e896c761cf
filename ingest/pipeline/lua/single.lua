-- One `/track` event in one call (ingest/pipeline/single.py): admit.lua's decision, the device's live
-- sessions, the profile check of an increment, and the push to its buffer with the accepted count.
-- Where the event goes is sessions_app/lua/place.lua's `place` (sent before this file, after admit.lua).
--
-- KEYS[1-3] admit's (the guard may be '': none)   KEYS[4-5] live pointers of the two device ids ('': none)
-- KEYS[6] the project's known profiles   KEYS[7-8] the event buffer and its drain flag
-- KEYS[9-10] the profile buffer and its flag   KEYS[11-12] today's accepted counts and the totals
-- ARGV[1-12] admit's A; 13 the event's time; 14 the session timeout; 15 the profile an increment
-- needs ('': none); 16 the project id; 17 rows; 18 counts ttl; 19 flag ttl; 20 the bucket's session
-- id; 21 the change packet ('': none); 22 the bucket packet ('': no event); 23 the taken-bucket
-- packet; 24-25 the halves of the packet joining the current salt's live session; 26-27 the
-- previous salt's; 28 '1' when the event starts a live session if its device has none;
-- 29... profiles identified now.
-- Returns {verdict, wait ms, lane, pushed, drain flag set, profile flag set, current sid, first,
-- last, previous sid, first, last, tokens left}: verdict as admit's, or 4 an unknown profile.
assert(#KEYS == 12 and #ARGV >= 28, 'single.lua: 12 keys, 28 arguments and more')
local function state(key)
  if key == '' then return {false, false, false} end
  local found = redis.call('HMGET', key, 'sid', 'first', 'last')
  return {found[1] or false, found[2] or false, found[3] or false}
end
local current, previous = state(KEYS[4]), state(KEYS[5])
local new_devices = (ARGV[28] == '1' and not current[1] and not previous[1]) and 1 or 0
local admitted = admit({KEYS[1], KEYS[2], KEYS[3] ~= '' and KEYS[3] or false}, ARGV, new_devices)
local reply = {admitted[1], admitted[2], admitted[3], 0, 0, 0,
  current[1], current[2], current[3], previous[1], previous[2], previous[3], admitted[4]}
if admitted[1] ~= 0 then return reply end
if ARGV[15] ~= '' and redis.call('SISMEMBER', KEYS[6], ARGV[15]) == 0 then
  reply[1] = 4
  return reply
end

local ms, timeout = tonumber(ARGV[13]), tonumber(ARGV[14])
-- The session id as JSON text: ours are base64url with a dot and digits at most; anything else cjson spells.
local function spelled(sid)
  if string.match(sid, '^[%w%-_%.]+$') then return '"' .. sid .. '"' end
  return cjson.encode(sid)
end
if ARGV[22] ~= '' then
  -- An event with one packet only (a client's own session) is looked up for admission, never placed.
  local pushed = 3
  if ARGV[24] ~= '' then pushed = place(current, previous, KEYS[5] ~= '', ms, timeout, ARGV[20]) end
  local packet = ARGV[22]
  if pushed == 1 then
    packet = ARGV[24] .. spelled(current[1]) .. ARGV[25]
  elseif pushed == 2 then
    packet = ARGV[26] .. spelled(previous[1]) .. ARGV[27]
  elseif pushed == 4 then
    packet = ARGV[23]
  end
  redis.call('RPUSH', KEYS[7], packet)
  reply[4] = pushed
  reply[5] = redis.call('SET', KEYS[8], 1, 'NX', 'EX', ARGV[19]) and 1 or 0
end
if ARGV[21] ~= '' then
  redis.call('RPUSH', KEYS[9], ARGV[21])
  reply[6] = redis.call('SET', KEYS[10], 1, 'NX', 'EX', ARGV[19]) and 1 or 0
end
redis.call('HINCRBY', KEYS[11], ARGV[16], ARGV[17])
redis.call('EXPIRE', KEYS[11], ARGV[18])
redis.call('HINCRBY', KEYS[12], ARGV[16], ARGV[17])
if #ARGV > 28 then redis.call('SADD', KEYS[6], unpack(ARGV, 29)) end
return reply
