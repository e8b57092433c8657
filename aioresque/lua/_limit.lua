-- Shared fragment: concurrency and rate limits in the claim path
-- (aioresque/_limits.py). Included before _take.lua by every script that
-- claims, settles, recovers or cancels jobs. Defines local helpers only.
--
-- K fields: state, queue, marker, stats, and limits / waiting / reopen; when
-- K.limits is nil every helper does nothing.
--
-- A job of a limited handler belongs to the group "<name>" or, with a limit
-- key, "<name>|<key>". The limits hash holds per group {h = ids holding a
-- concurrency slot, s = claim times (ms) within the rate period}. A job that
-- cannot start is parked in the waiting set (member "<group>\0<seq>\0<id>",
-- every score 0, so a group's jobs are one lexical range in arrival order)
-- and goes back to the head of the queue when a holder of its group leaves
-- the active set, or when the group's reopen time (the rate window's next
-- free moment, or a one-minute safety recheck) has passed.

local LIMIT_RECHECK_MS = 60000   -- a concurrency-parked group is looked at again after this
local LIMIT_MAX_PARKS = 1000     -- most jobs one claim call parks (bounds the script's run time)

-- The limits a worker serves, from ARGV[start..]: count, then per handler
-- name, concurrency (or ''), rate n (or ''), rate period (ms).
local function parse_limits(start)
  local L = {}
  local count = tonumber(ARGV[start]) or 0
  for i = 0, count - 1 do
    local b = start + 1 + i * 4
    L[ARGV[b]] = {c = tonumber(ARGV[b + 1]), n = tonumber(ARGV[b + 2]), p = tonumber(ARGV[b + 3])}
  end
  return L
end

-- A group's record, rebuilt from its checked parts: holder ids, claim times
-- (ms), the rate period (ms) and the rate n. Parts of the wrong shape are
-- dropped (the record is bookkeeping, not a job: a holder it forgets is found
-- again by the live-holder check in limit_admit).
local function limit_load(K, group)
  local rec = {h = {}, s = {}}
  local raw = redis.call('HGET', K.limits, group)
  if not raw then return rec end
  local ok, got = pcall(cjson.decode, raw)
  if not ok or type(got) ~= 'table' then return rec end
  if type(got.h) == 'table' then
    for _, h in ipairs(got.h) do
      if valid_id(h) and #rec.h < 100000 then rec.h[#rec.h + 1] = h end
    end
  end
  if type(got.s) == 'table' then
    for _, t in ipairs(got.s) do
      if num_in(t, 0, MAX_MS) and #rec.s < 100000 then rec.s[#rec.s + 1] = t end
    end
  end
  if num_in(got.p, 1, MAX_MS) then rec.p = got.p end
  if int_in(got.r, 1, MAX_INT) then rec.r = got.r end
  return rec
end

local function limit_save(K, group, rec)
  if #rec.h == 0 and #rec.s == 0 then
    redis.call('HDEL', K.limits, group)
  else
    redis.call('HSET', K.limits, group, cjson.encode(rec))
  end
end

-- Put up to n parked jobs of group back at the head of the queue, oldest
-- first. Parked ids whose job is no longer parked (cancelled, deleted) are
-- dropped and do not count; at most LIMIT_MAX_PARKS entries are looked at.
local function limit_unpark(K, group, n)
  if n <= 0 then return 0 end
  local ready = {}
  local looked = 0
  while #ready < n and looked < LIMIT_MAX_PARKS do
    local members = redis.call('ZRANGEBYLEX', K.waiting, '[' .. group .. '\0', '(' .. group .. '\1',
                               'LIMIT', 0, n - #ready)
    if #members == 0 then break end
    looked = looked + #members
    for _, m in ipairs(members) do
      redis.call('ZREM', K.waiting, m)
      local id = string.sub(m, #group + 19)
      local st, why = nil, 'not a valid job id'
      if valid_id(id) then st, why = read_state(K, id) end
      if st ~= nil and st.status == 'queued' and st.parked then
        st.parked, st.ps = nil, nil
        redis.call('HSET', K.state, id, cjson.encode(st))
        ready[#ready + 1] = id
      elseif st == nil and why ~= 'missing' then
        -- Neither parked again nor run: kept aside whole, with the member as found.
        quarantine(K, m, 'waiting', why, clock_ms())
      end
    end
  end
  -- The head of the queue is its right end: push the oldest last.
  for i = #ready, 1, -1 do redis.call('RPUSH', K.queue, ready[i]) end
  if #ready > 0 then redis.call('ZADD', K.marker, 0, 'w') end
  return #ready
end

-- A job leaves the active set: give back its concurrency slot and let one
-- parked job of its group try again. Changes st (the caller saves it).
local function limit_release(K, id, st)
  if not K.limits or not st.lg then return end
  local group = st.lg
  st.lg = nil
  local rec = limit_load(K, group)
  local kept = {}
  for _, h in ipairs(rec.h) do
    if h ~= id then kept[#kept + 1] = h end
  end
  rec.h = kept
  limit_save(K, group, rec)
  limit_unpark(K, group, 1)
end

-- Groups whose reopen time has come: forget claim times past the rate
-- window (a record with nothing left is deleted, so per-key groups do not
-- pile up), arm the timer again while times remain, and release parked jobs.
local function limit_timers(K, now)
  if not K.limits then return end
  local due = redis.call('ZRANGEBYSCORE', K.reopen, '-inf', now, 'LIMIT', 0, 100)
  for _, group in ipairs(due) do
    redis.call('ZREM', K.reopen, group)
    local rec = limit_load(K, group)
    local p = rec.p
    if p then
      local recent = {}
      for _, t in ipairs(rec.s) do
        if t > now - p then recent[#recent + 1] = t end
      end
      rec.s = recent
      if #recent > 0 then redis.call('ZADD', K.reopen, 'LT', recent[1] + p, group) end
      limit_save(K, group, rec)
    end
    limit_unpark(K, group, math.min(rec.r or 1, 100))
  end
end

-- Whether job id (state st, popped from the queue) may start now under the
-- worker's limits L. If yes its slot and claim time are recorded (st.lg
-- names the group); if not it is parked and false is returned.
local function limit_admit(K, L, id, st, now)
  local lim = L[st.name]
  if lim == nil then return true end
  local group = st.name
  if st.lk then group = group .. '|' .. st.lk end
  local rec = limit_load(K, group)
  local reopen_at = nil
  if lim.c and #rec.h >= lim.c then
    -- Full: first drop holders that no longer hold the group (a record
    -- deleted by hand must not leak a slot forever).
    local live = {}
    for _, h in ipairs(rec.h) do
      local hs = read_state(K, h)
      if hs ~= nil and hs.status == 'active' and hs.lg == group then live[#live + 1] = h end
    end
    rec.h = live
    if #live >= lim.c then reopen_at = now + LIMIT_RECHECK_MS end
  end
  if lim.n then
    local recent = {}
    for _, t in ipairs(rec.s) do
      if t > now - lim.p then recent[#recent + 1] = t end
    end
    rec.s = recent
    if #recent >= lim.n then
      local at = recent[#recent - lim.n + 1] + lim.p
      if reopen_at == nil or at < reopen_at then reopen_at = at end
      rec.r = lim.n
    end
  end
  if reopen_at ~= nil then
    limit_save(K, group, rec)
    local seq = bump(K, 'parked', 1)
    redis.call('ZADD', K.waiting, 0, group .. '\0' .. string.format('%016d', seq) .. '\0' .. id)
    redis.call('ZADD', K.reopen, 'LT', reopen_at, group)  -- LT still adds a new member
    st.parked = true
    st.ps = seq  -- names the waiting member, so cancel.lua can remove it
    redis.call('HSET', K.state, id, cjson.encode(st))
    return false
  end
  if lim.c then rec.h[#rec.h + 1] = id end
  if lim.n then
    rec.s[#rec.s + 1] = now
    rec.p = lim.p
    -- The timer that forgets this claim time once it leaves the window.
    redis.call('ZADD', K.reopen, 'LT', rec.s[1] + lim.p, group)
  end
  limit_save(K, group, rec)
  st.lg = group
  return true
end

-- Take a parked job (state st, parked with st.ps) out of the waiting set.
local function limit_unpark_one(K, id, st)
  if not K.waiting or not st.parked or not st.ps then return end
  local group = st.name or ''
  if st.lk then group = group .. '|' .. st.lk end
  redis.call('ZREM', K.waiting, group .. '\0' .. string.format('%016d', st.ps) .. '\0' .. id)
  st.parked, st.ps = nil, nil
end

-- The earliest reopen time, or nil.
local function limit_next(K)
  if not K.limits then return nil end
  local r = redis.call('ZRANGE', K.reopen, 0, 0, 'WITHSCORES')
  if r[2] then return tonumber(r[2]) end
  return nil
end
