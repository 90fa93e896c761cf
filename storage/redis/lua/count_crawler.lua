-- Count a crawler's dropped request and its events (contract §6.4 r3: nothing dropped silently),
-- under the crawler's name. A crawler names itself, so a project counts at most ARGV[5] names; the
-- names beyond them are counted as "other" (every name is a series in /metrics).
-- KEYS[1] the project's counts of the day {name: events}, KEYS[2] the totals {"project|name|kind": n},
-- KEYS[3] the project's set of names
-- ARGV[1] project id, ARGV[2] crawler name, ARGV[3] events, ARGV[4] seconds the day's counts are
-- kept, ARGV[5] most names per project
-- Returns the name counted.
assert(#KEYS == 3 and #ARGV == 5, 'count_crawler: KEYS = day, totals, names; ARGV = project, name, events, ttl, most')
local name = ARGV[2]
if redis.call('SISMEMBER', KEYS[3], name) == 0 then
  if redis.call('SCARD', KEYS[3]) >= tonumber(ARGV[5]) then name = 'other' end
  redis.call('SADD', KEYS[3], name)
end
redis.call('HINCRBY', KEYS[1], name, ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('HINCRBY', KEYS[2], ARGV[1] .. '|' .. name .. '|events', ARGV[3])
redis.call('HINCRBY', KEYS[2], ARGV[1] .. '|' .. name .. '|requests', 1)
return name
