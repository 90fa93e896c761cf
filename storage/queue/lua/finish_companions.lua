-- A block is written: delete its companion jobs and the owner's companion list (storage/blocks.py).
-- One script, not a transaction: a full Redis refuses every MULTI, even one that only deletes, and a
-- block written at maxmemory must not be written again for want of its clean-up.
-- KEYS[1] the owner's companion list
-- ARGV[1] the job hash prefix ("rq:job:"), ARGV[2..] the ids of the companion jobs written
-- Returns how many job hashes were deleted.
assert(#KEYS == 1 and #ARGV >= 1, 'finish_companions: KEYS = companions; ARGV = job prefix, id...')
local deleted = 0
for i = 2, #ARGV do deleted = deleted + redis.call('DEL', ARGV[1] .. ARGV[i]) end
redis.call('DEL', KEYS[1])
return deleted
