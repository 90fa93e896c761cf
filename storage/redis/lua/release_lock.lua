-- Release a lock or a lease, by its holder only (storage/redis.py: lock, Lease): a holder that
-- outlived its time leaves the next holder's lock alone.
-- KEYS[1] the lock
-- ARGV[1] the holder's token
-- Returns 1 when it was released, 0 when another holder has it (or nobody).
assert(#KEYS == 1 and #ARGV == 1, 'release_lock: KEYS = lock; ARGV = token')
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
