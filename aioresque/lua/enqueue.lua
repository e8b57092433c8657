-- enqueue: add one or many jobs to one queue, idempotent by job id.
--
-- A job whose id already has a state record is left alone and its status is
-- returned instead. A job with a delay goes to the scheduled set, due at
-- now + delay on Redis's clock. Idle workers are woken through the marker.
--
-- A job with a uniqueness key is added only if no live job holds the key's
-- lock (see _unique.lua); otherwise the holder's id is returned. A holder
-- that no longer qualifies (finished, or started for a 'while queued' lock,
-- or past the lock's expiry) loses the lock to the new job.
--
-- KEYS: 1 queue, 2 scheduled, 3 jobs, 4 state, 5 marker, 6 stats, 7 unique
-- ARGV: 1 count, then per job either 4 values for a plain job:
--       'p', id, name, payload
--       or 11 values:
--       'f', id, name, payload, max attempts (or '': the handler's), timeout (ms or ''), delay (ms),
--       uniqueness key (or ''), lock mode ('f', 'q', 't' or ''), lock ttl (ms, 0 for none),
--       limit key (or '': see _limit.lua)
--       (a plain job is the 'f' form with '', '', 0, '', '', 0, '')
-- Returns: one entry per job: '' when it was added, '=' .. id when the job
--          holding its uniqueness lock was returned instead, else the
--          existing job's status.

-- @include _guard.lua
-- @include _unique.lua

check_types({queue = KEYS[1], scheduled = KEYS[2], jobs = KEYS[3], state = KEYS[4], marker = KEYS[5],
             stats = KEYS[6], unique = KEYS[7]})

local now = clock_ms()
local count = tonumber(ARGV[1])
local out = {}
local added = 0

local UK = {state = KEYS[4], unique = KEYS[7], stats = KEYS[6]}

local cursor = 2
for _ = 1, count do
  local id, name, payload = ARGV[cursor + 1], ARGV[cursor + 2], ARGV[cursor + 3]
  local max_attempts, timeout, delay, ukey, mode, ttl, lkey = '', '', 0, '', '', 0, ''
  if ARGV[cursor] == 'p' then
    cursor = cursor + 4
  else
    max_attempts, timeout, delay = ARGV[cursor + 4], ARGV[cursor + 5], tonumber(ARGV[cursor + 6])
    ukey, mode, ttl, lkey = ARGV[cursor + 7], ARGV[cursor + 8], tonumber(ARGV[cursor + 9]), ARGV[cursor + 10]
    cursor = cursor + 11
  end
  local existing = redis.call('HGET', KEYS[4], id)
  local holder = nil
  if not existing and ukey ~= '' then
    local entry = redis.call('HGET', KEYS[7], ukey)
    if entry then holder = unique_live_holder(UK, entry, now) end
  end
  if holder then
    out[#out + 1] = '=' .. holder
  elseif existing then
    local ok, st = pcall(cjson.decode, existing)
    if ok and type(st) == 'table' and STATUSES[st.status] then
      out[#out + 1] = st.status
    else
      out[#out + 1] = 'unknown'
    end
  else
    local st = {v = 1, name = name, attempts = 0, failures = 0, lost = 0, enqueued_at = now}
    if max_attempts ~= '' then st.max_attempts = tonumber(max_attempts) end
    if timeout ~= '' then st.timeout = tonumber(timeout) end
    if lkey ~= '' then st.lk = lkey end
    if ukey ~= '' then
      local exp = 0
      if ttl > 0 then exp = now + ttl end
      st.uk = ukey
      redis.call('HSET', KEYS[7], ukey, string.format('%d|%s|%s', exp, mode, id))
    end
    redis.call('HSET', KEYS[3], id, payload)
    if delay > 0 then
      st.status = 'scheduled'
      st.due_at = now + delay
      redis.call('ZADD', KEYS[2], now + delay, id)
    else
      st.status = 'queued'
      redis.call('LPUSH', KEYS[1], id)
    end
    redis.call('HSET', KEYS[4], id, cjson.encode(st))
    out[#out + 1] = ''
    added = added + 1
  end
end
if added > 0 then
  bump(UK, 'enqueued', added)  -- a garbage counter restarts: the jobs are written, the enqueue succeeded
  redis.call('ZADD', KEYS[5], 0, 'w')
end
return out
