-- Shared fragment: prepended to scripts that claim jobs (claim.lua, settle.lua).
-- Defines local helpers only; touches keys only through the table K that the
-- including script builds from its KEYS.
--
-- _events.lua must be included before this file (job events for followers).
--
-- K fields: queue, scheduled, active, jobs, state, marker, dead, stats, quarantine, and
-- optionally paused (the queue's pause flag; take() claims nothing while it exists).
-- Optionally limits, waiting, reopen (concurrency and rate limits) and flows
-- (workflows): _limit.lua and _flow.lua must be included before this file.
-- Optionally rfailed, rprocessed, rfailedn (set by resque_setup): recover()
-- reports a Resque-origin job that goes dead to Ruby Resque (_resque.lua).

-- @include _resque.lua

local now_ms = clock_ms
local TAKE_MAX_SKIPS = 1000  -- most entries one take() drops or quarantines (bounds the script's run time)

-- A checked state record (see read_state in _guard.lua); nil when it is
-- missing or fails the checks.
local function load_state(K, id)
  return (read_state(K, id))
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
-- dead set once they have been lost max_lost times (poison-pill guard). An
-- id that cannot be a job, or whose record fails the checks, is quarantined.
local function recover(K, now, limit, max_lost)
  local expired = redis.call('ZRANGEBYSCORE', K.active, '-inf', now, 'LIMIT', 0, limit)
  for _, id in ipairs(expired) do
    redis.call('ZREM', K.active, id)
    local st, why = nil, 'not a valid job id'
    if valid_id(id) then st, why = read_state(K, id) end
    if st and st.status ~= 'active' then
      -- A stale entry (a manual edit): the record says the job is elsewhere;
      -- moving it would put one job in two places.
      bump(K, 'dropped', 1)
    elseif st then
      bump(K, 'lost', 1)
      st.lost = (st.lost or 0) + 1
      local lost_by = st.worker
      st.worker = nil
      st.reason = 'worker lost'
      limit_release(K, id, st)
      if st.lost >= max_lost then
        st.status = 'dead'
        st.finished_at = now
        redis.call('ZADD', K.dead, now, id)
        bump(K, 'dead', 1)
        event('dead', id, {error = 'worker lost', lost = st.lost})
        resque_died(K, id, st, now, lost_by, {type = 'WorkerLost',
                    message = 'lost with its worker ' .. st.lost .. ' times (--max-lost)'})
      else
        st.status = 'queued'
        redis.call('RPUSH', K.queue, id)
        event('retrying', id, {error = 'worker lost', lost = st.lost, due_at = now})
      end
      save_state(K, id, st)
      if st.status == 'dead' then flow_done(K, id, st, now, false, nil, 'dead') end
    elseif why ~= 'missing' then
      quarantine(K, id, 'active', why, now)
    end
  end
  return #expired
end

-- Due scheduled jobs join the back of the queue (what cannot be a job is quarantined).
local function promote(K, now, limit)
  local due = redis.call('ZRANGEBYSCORE', K.scheduled, '-inf', now, 'LIMIT', 0, limit)
  for _, id in ipairs(due) do
    redis.call('ZREM', K.scheduled, id)
    local st, why = nil, 'not a valid job id'
    if valid_id(id) then st, why = read_state(K, id) end
    if st and st.status ~= 'scheduled' and st.status ~= 'retrying' then
      bump(K, 'dropped', 1)  -- a stale entry: the record says the job is elsewhere
    elseif st then
      st.status = 'queued'
      st.due_at = nil
      save_state(K, id, st)
      redis.call('LPUSH', K.queue, id)
    elseif why ~= 'missing' then
      quarantine(K, id, 'scheduled', why, now)
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

-- Claim up to n jobs for worker. Returns {now, next_wake, dropped, items, newer, quarantined}
-- where items is a flat list of (id, state JSON, payload) triples, dropped
-- lists ids that had no state record and were discarded (a queue entry that
-- cannot be a job id, or whose record fails the checks of check_state, is
-- quarantined instead: the caller reports quarantined_now), and newer lists ids
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
  local paused = false
  if K.paused and EVENT_KEYS then
    -- One read for both flags: a claim pays nothing extra for job events.
    local flags = redis.call('MGET', K.paused, EVENT_KEYS.listening)
    paused = flags[1] ~= false
    EVENTS_ON = flags[2] ~= false
  elseif K.paused then
    paused = redis.call('EXISTS', K.paused) == 1
  end
  if paused then
    -- Paused: recovery and promotion go on, but nothing is handed out.
    return {now, wake_at(0), {}, {}, {}, quarantined_now}
  end
  local items = {}
  local dropped = {}
  local newer, passed = {}, {}
  local claimed, parks, skipped = 0, 0, 0
  while claimed < n and skipped < TAKE_MAX_SKIPS do
    local id = redis.call('RPOP', K.queue)
    if not id then break end
    local st, why = nil, 'not a valid job id'
    if valid_id(id) then st, why = read_state(K, id, reads) end
    if why == 'newer' then
      -- Checked before anything else: a newer format may mean new statuses too.
      if passed[id] or #newer >= 100 then
        -- Round the whole queue (or enough for one call): back to the head, stop.
        redis.call('RPUSH', K.queue, id)
        break
      end
      passed[id] = true
      newer[#newer + 1] = id
      redis.call('LPUSH', K.queue, id)
      bump(K, 'newer_format', 1)
    elseif why == 'missing' then
      dropped[#dropped + 1] = id
      bump(K, 'dropped', 1)
      skipped = skipped + 1
    elseif st == nil then
      -- Not valid UTF-8, not a job id, or a record that fails the checks:
      -- kept aside with its raw bytes, never run and never popped again.
      quarantine(K, id, 'queue', why, now)
      skipped = skipped + 1
    elseif st.status ~= 'queued' then
      -- Stale id (e.g. a duplicate left by a manual edit): the record says the
      -- job is elsewhere, so this copy is dropped.
      dropped[#dropped + 1] = id
      bump(K, 'dropped', 1)
      skipped = skipped + 1
    elseif L[st.name] ~= nil and not limit_admit(K, L, id, st, now) then
      -- Parked until its limit group has room (see _limit.lua).
      parks = parks + 1
      if parks >= LIMIT_MAX_PARKS then
        wake(K)
        break
      end
    else
      st.attempts = (st.attempts or 0) + 1
      st.status = 'active'
      st.worker = worker
      st.started_at = now
      redis.call('ZADD', K.active, now + lease_ms, id)
      local raw = save_state(K, id, st)
      local payload = redis.call('HGET', K.jobs, id) or ''
      event('started', id, {attempt = st.attempts, worker = worker})
      items[#items + 1] = id
      items[#items + 1] = raw
      items[#items + 1] = payload
      claimed = claimed + 1
    end
  end
  if (claimed == n or skipped >= TAKE_MAX_SKIPS) and redis.call('LLEN', K.queue) > 0 then
    -- This worker is full and work is left: let another idle worker wake up.
    wake(K)
  end
  return {now, wake_at(claimed), dropped, items, newer, quarantined_now}
end
