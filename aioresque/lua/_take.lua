-- Shared fragment: prepended to scripts that claim jobs (claim.lua, settle.lua).
-- Defines local helpers only; touches keys only through the table K that the
-- including script builds from its KEYS.
--
-- K fields: queue, scheduled, active, jobs, state, marker, dead, stats, and
-- optionally paused (the queue's pause flag; take() claims nothing while it exists).
-- Optionally limits, waiting, reopen (concurrency and rate limits) and flows
-- (workflows): _limit.lua and _flow.lua must be included before this file.
-- Optionally rfailed, rprocessed, rfailedn (set by resque_setup): recover()
-- reports a Resque-origin job that goes dead to Ruby Resque (_resque.lua).

-- @include _resque.lua

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Decode a state record; nil when it is missing or not a JSON object.
local function load_state(K, id)
  local raw = redis.call('HGET', K.state, id)
  if not raw then return nil end
  local ok, st = pcall(cjson.decode, raw)
  if ok and type(st) == 'table' then return st end
  return nil
end

local function save_state(K, id, st)
  local raw = cjson.encode(st)
  redis.call('HSET', K.state, id, raw)
  return raw
end

local function wake(K)
  redis.call('ZADD', K.marker, 0, 'w')
end

-- Jobs whose lease expired go back to the head of their queue, or to the
-- dead set once they have been lost max_lost times (poison-pill guard).
local function recover(K, now, limit, max_lost)
  local expired = redis.call('ZRANGEBYSCORE', K.active, '-inf', now, 'LIMIT', 0, limit)
  for _, id in ipairs(expired) do
    redis.call('ZREM', K.active, id)
    redis.call('HINCRBY', K.stats, 'lost', 1)
    local st = load_state(K, id)
    if st then
      st.lost = (tonumber(st.lost) or 0) + 1
      local lost_by = st.worker
      st.worker = nil
      st.reason = 'worker lost'
      limit_release(K, id, st)
      if st.lost >= max_lost then
        st.status = 'dead'
        st.finished_at = now
        redis.call('ZADD', K.dead, now, id)
        redis.call('HINCRBY', K.stats, 'dead', 1)
        resque_died(K, id, st, now, lost_by, {type = 'WorkerLost',
                    message = 'lost with its worker ' .. st.lost .. ' times (--max-lost)'})
      else
        st.status = 'queued'
        redis.call('RPUSH', K.queue, id)
      end
      save_state(K, id, st)
      if st.status == 'dead' then flow_done(K, id, st, now, false, nil, 'dead') end
    end
  end
  return #expired
end

-- Due scheduled jobs join the back of the queue.
local function promote(K, now, limit)
  local due = redis.call('ZRANGEBYSCORE', K.scheduled, '-inf', now, 'LIMIT', 0, limit)
  for _, id in ipairs(due) do
    redis.call('ZREM', K.scheduled, id)
    local st = load_state(K, id)
    if st then
      st.status = 'queued'
      st.due_at = nil
      save_state(K, id, st)
      redis.call('LPUSH', K.queue, id)
    end
  end
  return #due
end

-- The earliest moment something needs a worker's attention without an
-- enqueue: a scheduled job falling due or a lease expiring. '' for never.
local function next_wake(K)
  local best = nil
  local s = redis.call('ZRANGE', K.scheduled, 0, 0, 'WITHSCORES')
  if s[2] then best = tonumber(s[2]) end
  local a = redis.call('ZRANGE', K.active, 0, 0, 'WITHSCORES')
  if a[2] then
    local v = tonumber(a[2])
    if best == nil or v < best then best = v end
  end
  local r = limit_next(K)
  if r ~= nil and (best == nil or r < best) then best = r end
  if best == nil then return '' end
  return tostring(best)
end

-- True when a state record's format is newer than `reads` (the newest this
-- worker's release claims), or not a format at all: such a job is left for a
-- newer worker. A record without v is format 1. Mirrors aioresque/_format.py.
local function too_new(st, reads)
  local v = st.v
  if v == nil then v = 1 end
  if type(v) ~= 'number' or v ~= math.floor(v) or v < 1 then return true end
  return v > reads
end

-- Claim up to n jobs for worker. Returns {now, next_wake, dropped, items, newer}
-- where items is a flat list of (id, state JSON, payload) triples, dropped
-- lists ids that had no state record and were discarded, and newer lists ids
-- whose record format is newer than `reads`: each went back to the back of
-- the queue untouched, for a newer worker (counted as newer_format).
--
-- maintain (default true): recover expired leases, promote due scheduled
-- jobs and run limit timers first. settle.lua skips this on most calls while
-- a worker is busy (the worker asks for it every few dozen jobs or 50 ms), so
-- a busy queue pays for the range queries once per batch of batches.
-- next_wake is computed only when nothing was claimed (a worker that got jobs
-- does not wait), and never when want_wake is false: it is then ''.
local function take(K, now, worker, n, lease_ms, max_lost, reads, L, maintain, want_wake)
  reads = tonumber(reads) or 1
  L = L or {}
  if maintain ~= false then
    recover(K, now, 100, max_lost)
    promote(K, now, math.max(n, 100))
    limit_timers(K, now)
  end
  local function wake_at(claimed)
    if claimed > 0 or want_wake == false then return '' end
    return next_wake(K)
  end
  if K.paused and redis.call('EXISTS', K.paused) == 1 then
    -- Paused: recovery and promotion go on, but nothing is handed out.
    return {now, wake_at(0), {}, {}, {}}
  end
  local items = {}
  local dropped = {}
  local newer, passed = {}, {}
  local claimed, parks = 0, 0
  while claimed < n do
    local id = redis.call('RPOP', K.queue)
    if not id then break end
    local st = load_state(K, id)
    if st ~= nil and too_new(st, reads) then
      -- Checked before anything else: a newer format may mean new statuses too.
      if passed[id] or #newer >= 100 then
        -- Round the whole queue (or enough for one call): back to the head, stop.
        redis.call('RPUSH', K.queue, id)
        break
      end
      passed[id] = true
      newer[#newer + 1] = id
      redis.call('LPUSH', K.queue, id)
      redis.call('HINCRBY', K.stats, 'newer_format', 1)
    elseif st == nil then
      if redis.call('HEXISTS', K.state, id) == 1 then
        -- A state record that is not JSON: keep the job, but dead, with a reason.
        st = {v = 1, status = 'dead', reason = 'corrupt state record', finished_at = now,
              attempts = 0, failures = 0, lost = 0}
        save_state(K, id, st)
        redis.call('ZADD', K.dead, now, id)
        redis.call('HINCRBY', K.stats, 'dead', 1)
      else
        dropped[#dropped + 1] = id
        redis.call('HINCRBY', K.stats, 'dropped', 1)
      end
    elseif st.status ~= 'queued' then
      -- Stale id (e.g. a duplicate left by a manual edit): the record says the
      -- job is elsewhere, so this copy is dropped.
      dropped[#dropped + 1] = id
      redis.call('HINCRBY', K.stats, 'dropped', 1)
    elseif L[st.name] ~= nil and not limit_admit(K, L, id, st, now) then
      -- Parked until its limit group has room (see _limit.lua).
      parks = parks + 1
      if parks >= LIMIT_MAX_PARKS then
        wake(K)
        break
      end
    else
      st.attempts = (tonumber(st.attempts) or 0) + 1
      st.status = 'active'
      st.worker = worker
      st.started_at = now
      redis.call('ZADD', K.active, now + lease_ms, id)
      local raw = save_state(K, id, st)
      local payload = redis.call('HGET', K.jobs, id) or ''
      items[#items + 1] = id
      items[#items + 1] = raw
      items[#items + 1] = payload
      claimed = claimed + 1
    end
  end
  if claimed == n and redis.call('LLEN', K.queue) > 0 then
    -- This worker is full and work is left: let another idle worker wake up.
    wake(K)
  end
  return {now, wake_at(claimed), dropped, items, newer}
end
