#!lua flags=allow-oom
-- Put held jobs back at the head of their queues, in the order given (storage/holding.py): the
-- job a stopping worker took and had not started, or one held longer than a live worker ever holds.
-- Allowed at maxmemory: it moves an id from one key to another.
-- KEYS[1] the held jobs (a zset)
-- ARGV[1] the job hash prefix ("rq:job:"), ARGV[2] the queue key prefix ("rq:queue:"), ARGV[3..] job ids
-- Returns how many went back. An id no longer held (started, or given back already) is skipped,
-- and one whose job is gone is dropped.
assert(#KEYS == 1 and #ARGV >= 2, 'give_back_jobs: KEYS = held; ARGV = job prefix, queue prefix, id...')
local back = 0
for i = #ARGV, 3, -1 do
  local id = ARGV[i]
  if redis.call('ZREM', KEYS[1], id) == 1 then
    local origin = redis.call('HGET', ARGV[1] .. id, 'origin')
    if origin then
      redis.call('LPUSH', ARGV[2] .. origin, id)
      back = back + 1
    end
  end
end
return back
