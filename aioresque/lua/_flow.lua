-- Shared fragment: workflows (chains and groups, aioresque/_workflow.py).
-- Included before _take.lua by every script that settles, recovers or
-- cancels jobs, and by flow.lua. Defines local helpers only.
--
-- K fields: flows, queue, jobs, state, stats, marker, dead; when K.flows is
-- nil flow_done does nothing.
--
-- The flows hash holds, per workflow id, a JSON record
--   {kind = 'chain' | 'group', status = 'running' | 'complete' | 'failed',
--    steps = {job ids}, cb = callback job id or nil, left = members not yet
--    finished (group), failed = members that did not complete (group),
--    d = {[index] = 1} members counted (group), stopped_by = job id, finished_at}
-- and per job that does not exist yet (later chain steps, a group's
-- callback) "<id>|d" (JSON {name, ma, to, lk}) and "<id>|p" (its payload),
-- and per input of a step "<id>|i<k>" (a finished step's serialized result).
-- A job of a workflow carries st.wf (workflow id), st.wi (1-based step
-- index) or st.wcb (the callback), and st.win (how many inputs it receives).

-- A workflow's record, rebuilt from its checked fields; nil when there is
-- none, or when it is not what flow.lua wrote: then the workflow id is
-- quarantined (where 'flows') and the workflow is left where it is, never
-- advanced halfway.
local function flow_load(K, fid, now)
  local raw = redis.call('HGET', K.flows, fid)
  if not raw then return nil end
  local ok, got = pcall(cjson.decode, raw)
  local rec = nil
  if ok and type(got) == 'table' and (got.kind == 'chain' or got.kind == 'group')
      and type(got.status) == 'string' and type(got.steps) == 'table' then
    rec = {kind = got.kind, status = got.status, steps = {}}
    for i, step in ipairs(got.steps) do
      if not valid_id(step) or i > MAX_STEPS then rec = nil; break end
      rec.steps[i] = step
    end
    if rec ~= nil and #rec.steps == 0 then rec = nil end
  end
  if rec ~= nil then
    for _, k in ipairs({'cb', 'stopped_by'}) do
      if got[k] ~= nil and not valid_id(got[k]) then rec = nil; break end
      if rec ~= nil then rec[k] = got[k] end
    end
  end
  if rec ~= nil then
    for _, k in ipairs({'left', 'failed'}) do
      if got[k] ~= nil and not int_in(got[k], -MAX_STEPS, MAX_STEPS) then rec = nil; break end
      if rec ~= nil then rec[k] = got[k] end
    end
  end
  if rec ~= nil then
    for _, k in ipairs({'created_at', 'finished_at'}) do
      if num_in(got[k], 0, MAX_MS) then rec[k] = got[k] end
    end
    if type(got.d) == 'table' then
      -- The group members already counted: {"<index>": 1}.
      rec.d = {}
      for k, v in pairs(got.d) do
        if type(k) == 'string' and string.find(k, '^%d+$') and #k <= 7 then rec.d[k] = 1 end
      end
    end
    return rec
  end
  quarantine(K, fid, 'flows', 'bad workflow record', now)
  return nil
end

-- Create job id of workflow fid from its stored data, queued (or, with
-- cancel_reason, recorded as cancelled in the dead set without running).
local function flow_create(K, fid, id, now, fields, cancel_reason)
  local raw = redis.call('HGET', K.flows, id .. '|d')
  if not raw then return end
  local ok, def = pcall(cjson.decode, raw)
  if not ok or type(def) ~= 'table' or type(def.name) ~= 'string' then  -- garbage: no job
    quarantine(K, id, 'flows', 'bad workflow step record', now)
    return
  end
  local st = {v = 1, name = def.name, attempts = 0, failures = 0, lost = 0, enqueued_at = now, wf = fid}
  if int_in(def.ma, 0, MAX_INT) then st.max_attempts = def.ma end
  if num_in(def.to, 0, MAX_INT) then st.timeout = def.to end
  if type(def.lk) == 'string' then st.lk = def.lk end
  for k, v in pairs(fields) do st[k] = v end
  redis.call('HSET', K.jobs, id, redis.call('HGET', K.flows, id .. '|p') or '')
  redis.call('HDEL', K.flows, id .. '|d', id .. '|p')
  if cancel_reason then
    st.status = 'cancelled'
    st.reason = cancel_reason
    st.finished_at = now
    st.win = nil
    redis.call('ZADD', K.dead, now, id)
    bump(K, 'cancelled', 1)
  else
    st.status = 'queued'
    redis.call('LPUSH', K.queue, id)
    bump(K, 'enqueued', 1)
    redis.call('ZADD', K.marker, 0, 'w')
  end
  redis.call('HSET', K.state, id, cjson.encode(st))
end

local function flow_finish(K, fid, rec, now, status)
  rec.status = status
  rec.finished_at = now
  rec.d = nil
  redis.call('HSET', K.flows, fid, cjson.encode(rec))
end

-- Job id (state st) of a workflow reached its final state: ok with its
-- serialized result value, or not ok (failed, dead, cancelled; status names
-- which). Advances the workflow at most once per job.
local function flow_done(K, id, st, now, ok, value, status)
  -- st passed check_state: wf is a job id, wi and win bounded integers.
  if not K.flows or not st.wf then return end
  local fid = st.wf
  if st.win then
    for k = 0, st.win - 1 do redis.call('HDEL', K.flows, id .. '|i' .. k) end
  end
  local rec = flow_load(K, fid, now)
  if rec == nil or rec.status ~= 'running' then return end
  if not st.wcb and st.wi == nil then return end
  local why = 'workflow stopped: job ' .. id .. ' ended ' .. status
  if st.wcb then
    rec.stopped_by = (not ok) and id or nil
    flow_finish(K, fid, rec, now, ok and 'complete' or 'failed')
  elseif rec.kind == 'chain' then
    local i = st.wi
    if ok and i < #rec.steps then
      local nxt = rec.steps[i + 1]
      redis.call('HSET', K.flows, nxt .. '|i0', value)
      flow_create(K, fid, nxt, now, {wi = i + 1, win = 1}, nil)
    elseif ok then
      flow_finish(K, fid, rec, now, 'complete')
    else
      for j = i + 1, #rec.steps do flow_create(K, fid, rec.steps[j], now, {wi = j}, why) end
      rec.stopped_by = id
      flow_finish(K, fid, rec, now, 'failed')
    end
  else
    local key = tostring(st.wi)
    if type(rec.d) ~= 'table' then rec.d = {} end
    if rec.d[key] then return end
    rec.d[key] = 1
    rec.left = (rec.left or 1) - 1
    rec.failed = rec.failed or 0
    if ok and rec.cb then
      redis.call('HSET', K.flows, rec.cb .. '|i' .. (st.wi - 1), value)
    elseif not ok then
      rec.failed = (rec.failed or 0) + 1
      rec.stopped_by = rec.stopped_by or id
    end
    if rec.left > 0 then
      redis.call('HSET', K.flows, fid, cjson.encode(rec))
    elseif rec.cb and rec.failed == 0 then
      flow_create(K, fid, rec.cb, now, {wcb = true, win = #rec.steps}, nil)
      rec.d = nil
      redis.call('HSET', K.flows, fid, cjson.encode(rec))
    else
      if rec.cb then
        flow_create(K, fid, rec.cb, now, {wcb = true}, 'workflow stopped: ' .. rec.failed .. ' member(s) did not complete')
        for k = 0, #rec.steps - 1 do redis.call('HDEL', K.flows, rec.cb .. '|i' .. k) end
      end
      flow_finish(K, fid, rec, now, rec.failed == 0 and 'complete' or 'failed')
    end
  end
end

-- A finished job of a workflow is pruned by retention: a finished workflow's
-- record goes with it (a running one stays until it finishes).
local function flow_prune(K, st, now)
  if not st or not st.wf then return end
  local rec = flow_load(K, st.wf, now)
  if rec ~= nil and rec.status ~= 'running' then redis.call('HDEL', K.flows, st.wf) end
end
