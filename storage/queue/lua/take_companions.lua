-- Take the chunk jobs waiting at the head of a `process_events` job's queue into its block, or return
-- the ones it holds already: a run of an owner that held a block when its last run ended without a
-- result (its worker died, perhaps killed by that very block), which the caller then splits.
-- (storage/blocks.py)
-- KEYS[1] the queue, KEYS[2] the owner's companion list, KEYS[3] the owner's job hash
-- ARGV[1] events the block may still take, ARGV[2] bytes of chunk data it may still take,
-- ARGV[3] the job hash prefix ("rq:job:"), ARGV[4] at most this many jobs
-- Returns {1, id...} for the ids held already (the owner is marked to run alone from now on),
-- {0, id...} for the ids taken now ({0}: none).
-- A job is taken only while it is a chunk job whose description counts its events and whose hash
-- says the size of its chunk (`spool_bytes`, written at enqueue), and while both budgets hold; an
-- owner marked `spool_alone` (a block split after a death) takes none.
assert(#KEYS == 3 and #ARGV == 4, 'take_companions: KEYS = queue, companions, owner; ARGV = events, bytes, prefix, most')
local held = redis.call('LRANGE', KEYS[2], 0, -1)
if #held > 0 then
  redis.call('HSET', KEYS[3], 'spool_alone', '1')  -- the split owner takes no block again either
  return {1, unpack(held)}
end
if redis.call('HEXISTS', KEYS[3], 'spool_alone') == 1 then return {0} end
local events_left, bytes_left = tonumber(ARGV[1]), tonumber(ARGV[2])
local taken = {0}
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[4]) - 1)) do
  local found = redis.call('HMGET', ARGV[3] .. id, 'description', 'spool_bytes', 'spool_alone')
  local count = found[1] and tonumber(string.match(found[1], '^process_events%((%d+) events%)$'))
  local size = tonumber(found[2])
  if not count or not size or found[3] then break end
  if count > events_left or size > bytes_left then break end
  events_left, bytes_left = events_left - count, bytes_left - size
  taken[#taken + 1] = id
end
if #taken > 1 then
  redis.call('LTRIM', KEYS[1], #taken - 1, -1)
  redis.call('RPUSH', KEYS[2], unpack(taken, 2))
end
return taken
