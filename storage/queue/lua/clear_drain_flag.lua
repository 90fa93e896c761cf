-- After a drain: clear a buffer's drain flag when the buffer is empty, atomically, so that the next
-- push re-arms it (storage/queue/buffers.py).
-- KEYS[1] the buffer, KEYS[2] its drain flag
-- Returns the packets left in the buffer (0: the flag is cleared).
assert(#KEYS == 2 and #ARGV == 0, 'clear_drain_flag: KEYS = buffer, flag; no ARGV')
if redis.call('LLEN', KEYS[1]) == 0 then redis.call('DEL', KEYS[2]) return 0 end
return redis.call('LLEN', KEYS[1])
