-- enqueue: add one or many jobs to one queue, idempotent by job id.
--
-- A job whose id already has a state record is left alone and its status is
-- returned instead. A job with a delay goes to the scheduled set, due at
-- now + delay on Redis's clock. Idle workers are woken through the marker.
--
-- KEYS: 1 queue, 2 scheduled, 3 jobs, 4 state, 5 marker, 6 stats
-- ARGV: 1 count, then per job 6 values:
--       id, name, payload, max attempts (or '': the handler's), timeout (ms or ''), delay (ms)
-- Returns: one entry per job: '' when it was added, else the existing status.

-- @include _guard.lua

check_types({queue = KEYS[1], scheduled = KEYS[2], jobs = KEYS[3], state = KEYS[4], marker = KEYS[5],
             stats = KEYS[6]})

local TIME = redis.call('TIME')
local now = tonumber(TIME[1]) * 1000 + math.floor(tonumber(TIME[2]) / 1000)
local count = tonumber(ARGV[1])
local out = {}
local added = 0
for i = 0, count - 1 do
  local b = 2 + i * 6
  local id = ARGV[b]
  local existing = redis.call('HGET', KEYS[4], id)
  if existing then
    local ok, st = pcall(cjson.decode, existing)
    if ok and type(st) == 'table' and st.status then
      out[#out + 1] = st.status
    else
      out[#out + 1] = 'unknown'
    end
  else
    local st = {v = 1, name = ARGV[b + 1], attempts = 0, failures = 0, lost = 0, enqueued_at = now}
    if ARGV[b + 3] ~= '' then st.max_attempts = tonumber(ARGV[b + 3]) end
    if ARGV[b + 4] ~= '' then st.timeout = tonumber(ARGV[b + 4]) end
    local delay = tonumber(ARGV[b + 5])
    redis.call('HSET', KEYS[3], id, ARGV[b + 2])
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
  redis.call('HINCRBY', KEYS[6], 'enqueued', added)
  redis.call('ZADD', KEYS[5], 0, 'w')
end
return out
