-- After the sweep stored a historical session's end row: forget its deadline unless an event arrived
-- for it meanwhile (its score moved: the next sweep ends it again), and mark the session ended
-- (sessions_app/ends.py). The ZREM comes first: it frees memory, and once a script has written,
-- Redis lets it finish even at maxmemory, so a full Redis keeps the marker instead of losing it.
-- KEYS[1] the zset of historical-session deadlines, KEYS[2] the session's ended marker
-- ARGV[1] the deadline member, ARGV[2] its score as read, ARGV[3] the marker's life in seconds
-- ("" when no end row was written for it: no marker)
-- Returns 1 when the deadline was forgotten, 0 when it had moved.
assert(#KEYS == 2 and #ARGV == 3, 'forget_historical: KEYS = deadlines, marker; ARGV = member, score, marker seconds')
local forgotten = 0
if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1])) == tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  forgotten = 1
end
if ARGV[3] ~= '' then redis.call('SET', KEYS[2], 1, 'EX', ARGV[3]) end
return forgotten
