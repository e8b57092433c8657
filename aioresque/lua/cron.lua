-- cron: keep one periodic schedule's record and fire its ticks, each at most once.
--
-- A schedule's record (JSON in the queue's cron hash) holds the last tick
-- fired ('last', ms on the Unix epoch). A tick fires only when it is later
-- than 'last' and not later than Redis's clock; firing advances 'last' and
-- enqueues the tick's job, whose id is derived from the tick, in the same
-- script. However many workers ask to fire the same tick, one succeeds.
--
-- Modes:
--   sync    store the schedule's description and next tick (for listings);
--           returns {last tick or '', paused 0/1}
--   fire    fire tick ARGV[5] (see above); returns {'fired', job id},
--           {'done', last tick} (already fired, by anyone), {'paused', ''}
--           (the tick is used up without a job), or {'early', Redis now}
--           (the tick is still in the future on Redis's clock)
--   pause   / resume: set or clear the paused flag; returns 1, or 0 when
--           the schedule has no record
--
-- KEYS: 1 cron, 2 queue, 3 jobs, 4 state, 5 marker, 6 stats
-- ARGV: 1 mode, 2 schedule name, 3 description, 4 next tick (ms),
--       5 tick (ms), 6 job id, 7 job name, 8 payload,
--       9 max attempts (or ''), 10 timeout (ms or '')
-- Returns: see the modes.

-- @include _guard.lua

check_types({cron = KEYS[1], queue = KEYS[2], jobs = KEYS[3], state = KEYS[4], marker = KEYS[5],
             stats = KEYS[6]})

local mode, name = ARGV[1], ARGV[2]
local raw = redis.call('HGET', KEYS[1], name)
local rec = nil
if raw then
  -- The record rebuilt from its checked fields (see _guard.lua): a field of the
  -- wrong shape is dropped (a counter restarts), never a reason to fail midway.
  local ok, got = pcall(cjson.decode, raw)
  if ok and type(got) == 'table' then
    rec = {fired = 0, skipped = 0, paused = got.paused == true}
    if int_in(got.fired, 0, MAX_INT) then rec.fired = got.fired end
    if int_in(got.skipped, 0, MAX_INT) then rec.skipped = got.skipped end
    if int_in(got.last, 0, MAX_MS) then rec.last = got.last end
    if type(got.last_job) == 'string' then rec.last_job = got.last_job end
    if type(got.spec) == 'string' then rec.spec = got.spec end
    if int_in(got.next, 0, MAX_MS) then rec.next = got.next end
  end
end

local function save()
  redis.call('HSET', KEYS[1], name, cjson.encode(rec))
end

if mode == 'pause' or mode == 'resume' then
  if rec == nil then return 0 end
  rec.paused = (mode == 'pause')
  save()
  return 1
end

if rec == nil then rec = {fired = 0, skipped = 0, paused = false} end
rec.spec = ARGV[3]
rec.next = tonumber(ARGV[4])

if mode == 'sync' then
  save()
  local last = ''
  if rec.last then last = string.format('%d', rec.last) end
  return {last, rec.paused and 1 or 0}
end

-- fire
local now = clock_ms()
local tick = tonumber(ARGV[5])
if tick > now then return {'early', string.format('%d', now)} end
if rec.last and rec.last >= tick then return {'done', string.format('%d', rec.last)} end
rec.last = tick
if rec.paused then
  rec.skipped = rec.skipped + 1
  save()
  return {'paused', ''}
end
local id = ARGV[6]
if not redis.call('HGET', KEYS[4], id) then
  local st = {v = 1, name = ARGV[7], attempts = 0, failures = 0, lost = 0, enqueued_at = now,
              status = 'queued', schedule = name}
  if ARGV[9] ~= '' then st.max_attempts = tonumber(ARGV[9]) end
  if ARGV[10] ~= '' then st.timeout = tonumber(ARGV[10]) end
  redis.call('HSET', KEYS[3], id, ARGV[8])
  redis.call('HSET', KEYS[4], id, cjson.encode(st))
  redis.call('LPUSH', KEYS[2], id)
  bump({stats = KEYS[6]}, 'enqueued', 1)
  redis.call('ZADD', KEYS[5], 0, 'w')
end
rec.fired = rec.fired + 1
rec.last_job = id
save()
return {'fired', id}
