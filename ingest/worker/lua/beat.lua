#!lua flags=allow-oom
-- The worker's heartbeat (RQ's BaseWorker.heartbeat, as one script): its last beat, and more life for
-- its hash and its executions' set. Allowed at maxmemory: it rewrites a timestamp of the same length
-- and adds nothing, and a worker that cannot beat while it frees a full Redis looks dead to its
-- health check (`manage.py check_worker`) and to RQ.
-- KEYS[1] the worker's hash, KEYS[2] the worker's executions (a set)
-- ARGV[1] the beat's time (RQ's utcformat), ARGV[2] seconds to live
-- Returns 1 when the worker's hash existed (0: it had expired; the worker registers again).
assert(#KEYS == 2 and #ARGV == 2, 'beat: KEYS = worker hash, executions; ARGV = time, ttl')
local existed = redis.call('EXISTS', KEYS[1])
if existed == 1 then redis.call('HSET', KEYS[1], 'last_heartbeat', ARGV[1]) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return existed
