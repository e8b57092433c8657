-- retry: put jobs from the dead set (failed, dead, cancelled) or the scheduled set
-- (scheduled or retrying) back at the back of their queue, by hand.
--
-- A job revived from the dead set starts over: attempts, failures and losses
-- go back to 0 and the time it was revived is recorded (revived_at); its last
-- error stays readable until it runs again. A scheduled or retrying job just
-- skips its wait. Ids in any other state (queued, active, complete, unknown)
-- are left alone.
--
-- A unique job revived from the dead set takes its uniqueness lock again
-- (same key, mode and ttl, counted from now; see _unique.lua). If another
-- live job holds the lock now, the revival would make a duplicate: the job
-- stays in the dead set untouched and is reported as skipped, with the
-- holder's id. (A scheduled or retrying job still holds its lock.)
--
-- A job whose state record fails the checks (see _guard.lua) is left where
-- it is, untouched.
--
-- KEYS: 1 queue, 2 scheduled, 3 dead, 4 state, 5 marker, 6 stats, 7 unique
-- ARGV: job ids
-- Returns: {number of jobs put back on the queue, then per job skipped because
--          of its uniqueness lock: its id, the id of the job holding the lock}

-- @include _guard.lua
-- @include _unique.lua

local K = {queue = KEYS[1], scheduled = KEYS[2], dead = KEYS[3], state = KEYS[4], marker = KEYS[5],
           stats = KEYS[6], unique = KEYS[7]}
check_types(K)
local now = clock_ms()
local moved = 0
local skipped = {}
for _, id in ipairs(ARGV) do
  local st = read_state(K, id)
  if st ~= nil then
    local from = nil
    if st.status == 'failed' or st.status == 'dead' or st.status == 'cancelled' then
      local holder = nil
      if redis.call('ZSCORE', K.dead, id) then holder = unique_retake(K, id, st, now) end
      if holder ~= nil then
        skipped[#skipped + 1] = id
        skipped[#skipped + 1] = holder
      elseif redis.call('ZREM', K.dead, id) == 1 then
        from = 'dead'
        st.attempts, st.failures, st.lost = 0, 0, 0
        st.finished_at = nil
        st.reason = nil
        st.revived_at = now
      end
    elseif (st.status == 'scheduled' or st.status == 'retrying') and redis.call('ZREM', K.scheduled, id) == 1 then
      from = 'scheduled'
      st.due_at = nil
    end
    if from then
      st.status = 'queued'
      redis.call('HSET', K.state, id, cjson.encode(st))
      redis.call('LPUSH', K.queue, id)
      moved = moved + 1
    end
  end
end
if moved > 0 then
  bump(K, 'revived', moved)
  redis.call('ZADD', K.marker, 0, 'w')
end
local out = {moved}
for _, v in ipairs(skipped) do out[#out + 1] = v end
return out
