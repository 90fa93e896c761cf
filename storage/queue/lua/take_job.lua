-- Take the job at the head of the first non-empty queue and hold it until the worker starts it
-- (storage/holding.py): a reliable pop. RQ's BLPOP over several queues left a popped job in no
-- queue and no registry when the worker stopped before registering it.
-- KEYS[1] the held jobs (a zset: job id -> ms it was taken), KEYS[2..] the queues, in the worker's order
-- ARGV[1] now (ms)
-- Returns {queue key, job id}, or false when every queue is empty.
-- The ZADD is the script's first write: at maxmemory Redis refuses a script whose first write adds
-- data, so a full Redis refuses the whole take rather than pop a job it cannot hold.
assert(#KEYS >= 2 and #ARGV == 1, 'take_job: KEYS = held, queue...; ARGV = now ms')
for i = 2, #KEYS do
  local id = redis.call('LINDEX', KEYS[i], 0)
  if id then
    redis.call('ZADD', KEYS[1], ARGV[1], id)
    redis.call('LPOP', KEYS[i])
    return {KEYS[i], id}
  end
end
return false
