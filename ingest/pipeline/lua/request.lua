-- Admission of a batch, or of a request that is not yet read (ingest/pipeline/admission.py): admit.lua's
-- decision, with the devices that would start a live session counted here.
--
-- KEYS[1] the project's buckets   KEYS[2] the shared memory reading   KEYS[3] unused ('')
-- KEYS[4..] pairs of live-device pointers (current salt, previous salt), one pair per device of the
--           request whose events would start or join a live session: a device with neither is new
-- ARGV: admit's A[1..12]
-- Returns admit's {verdict, wait ms, lane, tokens left} (ingest/pipeline/admission.py, Verdict).
assert(#KEYS >= 3 and (#KEYS - 3) % 2 == 0 and #ARGV == 12, 'request.lua: 3 + 2n keys, 12 arguments')
local new_devices = 0
for i = 4, #KEYS, 2 do
  if redis.call('EXISTS', KEYS[i]) == 0 and redis.call('EXISTS', KEYS[i + 1]) == 0 then
    new_devices = new_devices + 1
  end
end
return admit({KEYS[1], KEYS[2], false}, ARGV, new_devices)
