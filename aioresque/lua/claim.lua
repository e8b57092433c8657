-- claim: take up to n jobs from one queue for one worker.
--
-- First recovers jobs whose lease expired and promotes due scheduled jobs,
-- then pops jobs from the head of the queue, counts the attempt, and records
-- the worker as owner with a lease deadline on Redis's clock.
--
-- KEYS: 1 queue, 2 scheduled, 3 active, 4 jobs, 5 state, 6 marker, 7 dead, 8 stats,
--       9 paused (optional: while it exists nothing is claimed),
--       10 results, 11 errors, 12 done, 13 watched, 14 cancelled (optional:
--       only checked, so that a queue with garbage in any key is left alone
--       rather than having its jobs run and their outcomes refused),
--       15 limits, 16 waiting, 17 reopen, 18 flows (limits and workflows),
--       19 quarantine (what cannot be a job: see _guard.lua),
--       20 history, 21 unique (optional: only checked, like 10-14: every key
--       settle.lua writes is, so a job claimed here can have its outcome recorded),
--       22 events, 23 listening (optional: job events for followers, see _events.lua),
--       24 <ns>:failed, 25 <ns>:stat:processed, 26 <ns>:stat:failed (optional: where
--       recovery reports Resque-origin jobs that die, see _resque.lua)
-- ARGV: 1 worker id, 2 n, 3 lease (ms), 4 max lost,
--       5 the newest state record format the worker claims (newer ones are left queued),
--       6.. the worker's limits: count, then per handler name, concurrency, rate n, period (ms)
-- Returns: {now ms, next wake ms or '', {dropped ids}, {id, state JSON, payload, ...},
--           {ids left queued for a newer worker}, number of entries quarantined
--           now for the first time}
--
-- A queue entry that is not a job id (not UTF-8, bad characters, too long)
-- or whose state record fails the checks is moved to the quarantine hash,
-- never handed to the worker (see take() in _take.lua).

-- @include _guard.lua
-- @include _events.lua
-- @include _limit.lua
-- @include _flow.lua
-- @include _take.lua

local K = {queue = KEYS[1], scheduled = KEYS[2], active = KEYS[3], jobs = KEYS[4],
           state = KEYS[5], marker = KEYS[6], dead = KEYS[7], stats = KEYS[8], paused = KEYS[9],
           limits = KEYS[15], waiting = KEYS[16], reopen = KEYS[17], flows = KEYS[18],
           quarantine = KEYS[19]}
if KEYS[23] then EVENT_KEYS = {events = KEYS[22], listening = KEYS[23]} end
local now = now_ms()

-- The idle case (an idle worker runs this after every wait): nothing queued,
-- no scheduled job due, no lease expired, no limit timer due. The script then
-- writes nothing, so it needs no type checks beyond the two hashes that hold
-- the jobs (whose garbage must still be reported while the queue is empty);
-- the reads that find it idle give the next wake-up time too. Any error in
-- these reads (garbage) falls through to check_types, which names the key.
local function idle_wake()
  local len = redis.pcall('LLEN', K.queue)
  if type(len) ~= 'number' or len > 0 then return nil end
  local best = nil
  local zsets = {K.scheduled, K.active}
  -- Limit timers matter only to a worker serving limited handlers (ARGV[6] > 0).
  if (tonumber(ARGV[6]) or 0) > 0 then zsets[3] = K.reopen end
  for _, key in ipairs(zsets) do
    local r = redis.pcall('ZRANGE', key, 0, 0, 'WITHSCORES')
    if r.err then return nil end
    if r[2] then
      local v = tonumber(r[2])
      if v <= now then return nil end
      if best == nil or v < best then best = v end
    end
  end
  if best == nil then return '' end
  return tostring(best)
end

local idle = idle_wake()
if idle ~= nil then
  check_types({jobs = K.jobs, state = K.state})
  return {now, idle, {}, {}, {}, 0}
end
check_types(K)
resque_setup(K, 24, #KEYS)
check_types({results = KEYS[10], errors = KEYS[11], done = KEYS[12], watched = KEYS[13], cancelled = KEYS[14],
             history = KEYS[20], unique = KEYS[21]})
local taken = take(K, now, ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]),
                   parse_limits(6))
flush_events()
return taken
