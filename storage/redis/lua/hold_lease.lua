#!lua flags=allow-oom
-- Take a lease, or renew it when this holder has it (storage/redis.py, Lease).
-- Allowed at maxmemory: the worker's upkeep, which frees Redis, runs under it; the key is a few
-- dozen bytes, and renewing it adds nothing.
-- KEYS[1] the lease
-- ARGV[1] the holder's token, ARGV[2] how long it lasts from now (ms)
-- Returns 1 when the holder has the lease now, 0 when another holder has it.
assert(#KEYS == 1 and #ARGV == 2, 'hold_lease: KEYS = lease; ARGV = token, ms')
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
