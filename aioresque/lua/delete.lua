-- delete: remove jobs and every record of them (payload, state, result,
-- error), wherever they wait. A job that is running (active) is never
-- deleted: cancel it instead. Callers waiting on a deleted job's result are
-- woken (they then find no job).
--
-- With mode 'queued' only jobs whose state says queued are deleted; an id in
-- the queue list whose record says the job is elsewhere (a stale copy) is
-- removed from the list and its record left alone. purge uses this mode.
--
-- A deleted job releases its uniqueness lock (see _unique.lua), whatever its mode.
-- A deleted job of a workflow that had not finished (queued, scheduled,
-- retrying) stops its workflow as a cancel does (see _flow.lua): the
-- workflow becomes 'failed' with stopped_by = the deleted id, a chain's later
-- steps and a group's callback are recorded as cancelled. Deleting a
-- finished step changes nothing: its outcome already advanced the workflow.
--
-- KEYS: 1 queue, 2 scheduled, 3 active, 4 done, 5 dead, 6 jobs, 7 state,
--       8 results, 9 errors, 10 watched, 11 stats, 12 unique, 13 flows, 14 marker,
--       [15 quarantine, 16 progress: optional; when given, a deleted id's quarantine
--       entry and progress go too,]
--       then one notify key per id
-- ARGV: 1 mode ('any' or 'queued'), 2.. job ids (as many as notify keys)
-- Returns: {deleted, skipped because running}

-- @include _guard.lua
-- @include _flow.lua

local K = {queue = KEYS[1], scheduled = KEYS[2], active = KEYS[3], done = KEYS[4], dead = KEYS[5],
           jobs = KEYS[6], state = KEYS[7], results = KEYS[8], errors = KEYS[9], watched = KEYS[10],
           stats = KEYS[11], unique = KEYS[12], flows = KEYS[13], marker = KEYS[14]}
-- One more key than 14 + one notify key per id: the quarantine comes first.
local first_notify = 15
local progress_key = nil
if #KEYS == 15 + (#ARGV - 1) then
  K.quarantine = KEYS[15]
  first_notify = 16
elseif #KEYS == 16 + (#ARGV - 1) then
  K.quarantine = KEYS[15]
  progress_key = KEYS[16]
  first_notify = 17
end
check_types(K)
local now = clock_ms()
local mode = ARGV[1]
local deleted, running = 0, 0
for i = 2, #ARGV do
  local id = ARGV[i]
  -- A record that fails the checks (see _guard.lua) is deleted like any other,
  -- without reading its fields.
  local rec, why = read_state(K, id)
  local raw = why ~= 'missing'
  local status = nil
  if rec ~= nil then status = rec.status elseif raw then status = 'corrupt' end
  if status == 'active' or redis.call('ZSCORE', K.active, id) then
    running = running + 1
  elseif mode == 'queued' and status ~= 'queued' then
    -- The id is the queue's head copy only; the job itself lives elsewhere.
    redis.call('LREM', K.queue, -1, id)
  else
    if status == 'queued' or status == nil or status == 'corrupt' then
      -- Queued ids sit near the head (right end) when purging: search from there.
      redis.call('LREM', K.queue, -1, id)
    end
    if rec ~= nil and rec.uk ~= nil then
      -- Deleting the job ends its lock, whatever the mode: the holder is gone.
      local entry = redis.call('HGET', K.unique, rec.uk)
      if entry and string.match(entry, '^%d+|%a|(.*)$') == id then redis.call('HDEL', K.unique, rec.uk) end
    end
    if rec ~= nil and rec.wf ~= nil and (status == 'queued' or status == 'scheduled' or status == 'retrying') then
      flow_done(K, id, rec, now, false, nil, 'deleted')
    end
    redis.call('ZREM', K.scheduled, id)
    redis.call('ZREM', K.done, id)
    redis.call('ZREM', K.dead, id)
    redis.call('HDEL', K.jobs, id)
    redis.call('HDEL', K.results, id)
    redis.call('HDEL', K.errors, id)
    if progress_key then redis.pcall('HDEL', progress_key, id) end
    if K.quarantine and redis.call('HDEL', K.quarantine, id) == 1 and not raw then
      deleted = deleted + 1  -- a quarantined entry with no record left: deleting it is deleting the job
    end
    if raw then
      redis.call('HDEL', K.state, id)
      deleted = deleted + 1
    end
    if redis.call('SREM', K.watched, id) == 1 then
      local key = KEYS[first_notify + i - 2]
      local kt = redis.call('TYPE', key)['ok']
      if kt == 'none' or kt == 'list' then  -- garbage in a notify key must not stop the delete
        redis.call('LPUSH', key, '1')
        redis.call('PEXPIRE', key, 60000)
      end
    end
  end
end
if deleted > 0 then bump(K, 'deleted', deleted) end
return {deleted, running}
