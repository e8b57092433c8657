-- claim: take up to n jobs from one queue for one worker.
--
-- First recovers jobs whose lease expired and promotes due scheduled jobs,
-- then pops jobs from the head of the queue, counts the attempt, and records
-- the worker as owner with a lease deadline on Redis's clock.
--
-- KEYS: 1 queue, 2 scheduled, 3 active, 4 jobs, 5 state, 6 marker, 7 dead, 8 stats
-- ARGV: 1 worker id, 2 n, 3 lease (ms), 4 max lost
-- Returns: {now ms, next wake ms or '', {dropped ids}, {id, state JSON, payload, ...}}

-- @include _take.lua

local K = {queue = KEYS[1], scheduled = KEYS[2], active = KEYS[3], jobs = KEYS[4],
           state = KEYS[5], marker = KEYS[6], dead = KEYS[7], stats = KEYS[8]}
local now = now_ms()
return take(K, now, ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
