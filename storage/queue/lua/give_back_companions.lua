#!lua flags=allow-oom
-- Put companion jobs of a block back at the head of their queue, in their order (storage/blocks.py):
-- a block that failed, the chunks a block did not reach, or a block split after its worker died,
-- whose jobs are then marked to run alone. Allowed at maxmemory: a failing block must give back what
-- it holds, and moving ids adds nothing (the mark is a few bytes a job, only after a death).
-- KEYS[1] the queue, KEYS[2] the owner's companion list
-- ARGV[1] "1" to mark each job to run alone, ARGV[2] the job hash prefix, ARGV[3..] job ids
-- Returns how many the owner still holds.
assert(#KEYS == 2 and #ARGV >= 2, 'give_back_companions: KEYS = queue, companions; ARGV = alone, prefix, id...')
for i = #ARGV, 3, -1 do
  if redis.call('LREM', KEYS[2], 1, ARGV[i]) == 1 then
    redis.call('LPUSH', KEYS[1], ARGV[i])
    if ARGV[1] == '1' then redis.call('HSET', ARGV[2] .. ARGV[i], 'spool_alone', '1') end
  end
end
return redis.call('LLEN', KEYS[2])
