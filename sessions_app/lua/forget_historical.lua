-- Take a historical session off the deadlines once its end row is stored, unless a new event moved
-- its deadline meanwhile (then the next sweep ends it again, later).
-- KEYS[1] zset of historical-session deadlines   ARGV[1] member, ARGV[2] its deadline as read
-- Returns 1 when it was taken off, 0 when it had moved.
assert(#KEYS == 1 and #ARGV == 2, 'forget_historical: wrong arity')
if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1])) == tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 1
end
return 0
