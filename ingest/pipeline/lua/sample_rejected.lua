-- Keep samples of a request's rejected rows (ingest/pipeline/rejections.py), at most a number of
-- slots per project and hour: the rest are dropped, counted only.
-- KEYS[1] this hour's used sample slots, KEYS[2] the pending samples (the rejected buffer)
-- ARGV[1] the slots' life in seconds, ARGV[2] slots per hour, ARGV[3..] the samples
-- Returns the slots left this hour (0 tells the caller to stop offering samples until the next hour).
assert(#KEYS == 2 and #ARGV >= 2, 'sample_rejected: KEYS = slots, samples; ARGV = ttl, slots, sample...')
local offered = #ARGV - 2
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local left = tonumber(ARGV[2]) - used
if offered <= 0 or left <= 0 then return math.max(left, 0) end
local take = math.min(offered, left)
redis.call('INCRBY', KEYS[1], take)
redis.call('EXPIRE', KEYS[1], ARGV[1])
for i = 3, 2 + take do
  redis.call('RPUSH', KEYS[2], ARGV[i])
end
return left - take
