-- recover: put the jobs whose lease expired back on their queue (or, lost too
-- often, in the dead set), without claiming anything.
--
-- Workers run this over every known queue (one worker at a time, under the
-- recovery lock) so that a queue no live worker claims from still gets its
-- lost jobs back; `python -m aioresque recover` and Queue.recover() run it on
-- demand. The claim path runs the same recover() on the queues it serves.
--
-- KEYS: 1 queue, 2 scheduled, 3 active, 4 jobs, 5 state, 6 marker, 7 dead, 8 stats,
--       9 limits, 10 waiting, 11 reopen, 12 flows (a recovered job gives back its limit
--       slot; one that goes dead stops or advances its workflow), 13 quarantine (an
--       expired id that cannot be a job, or whose record fails the checks, goes there)
--       14 events, 15 listening (optional: job events for followers, see _events.lua),
--       16 <ns>:failed, 17 <ns>:stat:processed, 18 <ns>:stat:failed (optional: where a
--       Resque-origin job that goes dead is reported, see _resque.lua)
-- ARGV: 1 max lost, 2 most jobs to recover in this call
-- Returns: {number of jobs recovered, number of expired leases still left,
--          number of ids quarantined now for the first time}

-- @include _guard.lua
-- @include _events.lua
-- @include _limit.lua
-- @include _flow.lua
-- @include _take.lua

local K = {queue = KEYS[1], scheduled = KEYS[2], active = KEYS[3], jobs = KEYS[4],
           state = KEYS[5], marker = KEYS[6], dead = KEYS[7], stats = KEYS[8],
           limits = KEYS[9], waiting = KEYS[10], reopen = KEYS[11], flows = KEYS[12],
           quarantine = KEYS[13]}
if KEYS[15] then EVENT_KEYS = {events = KEYS[14], listening = KEYS[15]} end
local now = now_ms()
-- The common case, nothing expired, costs one range count (garbage in the
-- active set falls through to check_types, which names the key).
if redis.pcall('ZCOUNT', K.active, '-inf', now) == 0 then return {0, 0, 0} end
check_types(K)
resque_setup(K, 16, #KEYS)
local n = recover(K, now, tonumber(ARGV[2]), tonumber(ARGV[1]))
if n > 0 then wake(K) end
flush_events()
return {n, redis.call('ZCOUNT', K.active, '-inf', now), quarantined_now}
