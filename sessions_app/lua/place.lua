-- The rule of sessions_app/assign.py's `place` for one event, restated in Lua: a function that
-- ingest/pipeline/lua/single.lua calls, so that a single `/track` event is placed in the round trip
-- that admits it. tests/integration/test_single_trip.py holds the two to one another.
--
-- place(current, previous, has_previous, ms, timeout, bucket_sid)
--   current, previous  {sid, first, last} of the device's live session under the current salt and
--                      under the previous one ({false, false, false}: none)
--   has_previous       whether the event has a device id under the previous salt
--   ms, timeout        the event's time and the session timeout (ms)
--   bucket_sid         the session id of the event's own time bucket
-- Returns 1: it joins the current salt's live session; 2: the previous salt's; 4: its bucket, whose
-- id a live session of the device holds already (the bucket's id is made distinct); 3: its bucket.
local function place(current, previous, has_previous, ms, timeout, bucket_sid)
  assert(#current == 3 and #previous == 3 and ms and timeout, 'place: two {sid, first, last}, a time, a timeout')
  local function inside(s)
    return s[1] and s[2] and s[3] and tonumber(s[2]) - timeout <= ms and ms <= tonumber(s[3]) + timeout
  end
  if inside(current) then return 1 end
  if has_previous and inside(previous) then return 2 end
  if current[1] and current[2] and current[3] and current[1] == bucket_sid then return 4 end
  return 3
end
