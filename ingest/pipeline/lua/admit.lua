-- The admission decision of contract §11, a function that the request scripts include (request.lua
-- for a batch, single.lua for one event); ingest/pipeline/admission.py sends its arguments.
--
-- admit(K, A, new_devices)
--   K[1] the project's buckets (hash: tokens, fair, devices, at)   K[2] the shared memory reading
--   K[3] a single event's duplicate guard, or false
--   A[1] cost in events: the request's events, or its decompressed bytes / QUOTA_BYTES_PER_EVENT if more
--   A[2] quota per minute (0: no quota)   A[3] quota burst
--   A[4] high-water bytes (0: A[5])       A[5] high-water share of maxmemory
--   A[6] workers' reserve bytes (0: A[7]) A[7] workers' reserve share of maxmemory
--   A[8] fair share per minute            A[9] fair burst
--   A[10] new devices per minute (0: no budget)   A[11] new devices burst
--   A[12] mode: 0 admit; 1 peek (from the headers: refused only when nothing is left, spends
--         nothing); 2 charge (a body read and then refused or failed: spent, never refused)
--   new_devices: how many of the request's devices would start a live session
-- Returns {verdict, wait ms, lane, tokens left}: verdict 0 admitted, 1 over the high-water mark,
-- 2 over quota, 3 a duplicate, 5 over the new-devices budget; lane 0 the events queue, 1 bulk.
local function admit(K, A, new_devices)
  assert(#A >= 12, 'admit: 12 arguments')
  local mode = tonumber(A[12])
  local reading = redis.call('GET', K[2])
  if not reading then
    local info = redis.call('INFO', 'memory')
    reading = string.match(info, 'used_memory:(%d+)') .. ' ' .. string.match(info, 'maxmemory:(%d+)')
    redis.pcall('SET', K[2], reading, 'PX', 250)
  end
  local used, maxmemory = string.match(reading, '(%d+) (%d+)')
  used, maxmemory = tonumber(used), tonumber(maxmemory)
  local mark = tonumber(A[4])
  if mark == 0 then mark = maxmemory * tonumber(A[5]) end
  if maxmemory > 0 then
    local reserve = tonumber(A[6])
    if reserve == 0 then reserve = maxmemory * tonumber(A[7]) end
    if mark <= 0 or mark > maxmemory - reserve then mark = maxmemory - reserve end
  end
  if mode ~= 2 and mark > 0 and used >= mark then return {1, 0, 0, 0} end
  if mode == 0 and K[3] and redis.call('EXISTS', K[3]) == 1 then return {3, 0, 0, 0} end

  local cost, rate, burst = tonumber(A[1]), tonumber(A[2]), tonumber(A[3])
  local fair_rate, fair_burst = tonumber(A[8]), tonumber(A[9])
  local device_rate, device_burst = tonumber(A[10]), tonumber(A[11])
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
  local state = redis.call('HMGET', K[1], 'tokens', 'fair', 'devices', 'at')
  local elapsed = math.max(0, now - (tonumber(state[4]) or now))
  local tokens = math.min(burst, (tonumber(state[1]) or burst) + elapsed * rate / 60000)
  local fair = math.min(fair_burst, (tonumber(state[2]) or fair_burst) + elapsed * fair_rate / 60000)
  local devices = math.min(device_burst, (tonumber(state[3]) or device_burst) + elapsed * device_rate / 60000)
  if mode == 1 then
    if rate > 0 and tokens < 1 then return {2, math.ceil((1 - tokens) * 60000 / rate), 0, math.floor(tokens)} end
    return {0, 0, 0, math.floor(tokens)}
  end
  if rate > 0 and mode == 0 then
    local need = math.min(cost, burst)
    if tokens < need then return {2, math.ceil((need - tokens) * 60000 / rate), 0, math.floor(tokens)} end
  end
  if device_rate > 0 and mode == 0 and new_devices > 0 then
    local need = math.min(new_devices, device_burst)
    if devices < need then return {5, math.ceil((need - devices) * 60000 / device_rate), 0, math.floor(tokens)} end
  end
  local lane = 1
  if rate > 0 then tokens = tokens - cost end
  if mode == 0 then
    devices = devices - new_devices
    if fair >= math.min(cost, fair_burst) then
      fair = fair - cost
      lane = 0
    end
  end
  redis.call('HSET', K[1], 'tokens', tokens, 'fair', fair, 'devices', devices, 'at', now)
  local refill = (fair_burst - fair) * 60000 / fair_rate
  if rate > 0 then refill = math.max(refill, (burst - tokens) * 60000 / rate) end
  if device_rate > 0 then refill = math.max(refill, (device_burst - devices) * 60000 / device_rate) end
  redis.call('PEXPIRE', K[1], math.ceil(refill) + 1000)
  if mode == 0 and K[3] then redis.call('SET', K[3], 1, 'PX', 100) end
  return {0, 0, lane, math.floor(tokens)}
end
