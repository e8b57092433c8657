-- cancel: stop a job wherever it is, and record it as cancelled.
--
-- A queued, scheduled or retrying job is taken out of its queue or the
-- scheduled set. A running job leaves the active set at once (so neither
-- recovery nor its worker's settle can bring it back) and its id goes into
-- the queue's cancelled set, which the worker holding it checks about twice
-- a second while it runs jobs; the worker's next heartbeat also finds the
-- lease gone. Either way the record is final here: status 'cancelled', kept
-- in the dead set (jobs that ended without a result) under its retention,
-- and result() waiters are woken.
--
-- A cancelled job releases its uniqueness lock (see _unique.lua).
--
-- KEYS: 1 queue, 2 scheduled, 3 active, 4 state, 5 dead, 6 stats, 7 watched,
--       8 cancelled, 9 errors, 10 the job's notify key, 11 unique,
--       12 limits, 13 waiting, 14 reopen, 15 flows, 16 jobs, 17 marker (a running
--       job gives back its limit slot; a workflow member stops its workflow),
--       18 quarantine (optional: where a bad limit or workflow record met on
--       the way is noted)
-- A job whose state record fails the checks (see _guard.lua) is reported as
-- finished ('dead') and nothing is written.
--       19 events, 20 listening (optional: job events for followers, see _events.lua)
-- ARGV: 1 job id, 2 error record JSON
-- Returns: {'cancelled', status before} when it was cancelled now,
--          {'finished', status} when it had already finished,
--          {'missing', ''} when there is no such job.

-- @include _guard.lua
-- @include _events.lua
-- @include _unique.lua
-- @include _limit.lua
-- @include _flow.lua

local K = {queue = KEYS[1], scheduled = KEYS[2], active = KEYS[3], state = KEYS[4], dead = KEYS[5],
           stats = KEYS[6], watched = KEYS[7], cancelled = KEYS[8], errors = KEYS[9], unique = KEYS[11],
           limits = KEYS[12], waiting = KEYS[13], reopen = KEYS[14], flows = KEYS[15], jobs = KEYS[16],
           marker = KEYS[17], quarantine = KEYS[18]}
check_types(K)
if KEYS[20] then EVENT_KEYS = {events = KEYS[19], listening = KEYS[20]} end
local id = ARGV[1]
local st, why = read_state(K, id)
if st == nil then
  if why == 'missing' then return {'missing', ''} end
  return {'finished', 'dead'}
end
local status = st.status
if status == 'complete' or status == 'failed' or status == 'dead' or status == 'cancelled' then
  return {'finished', status}
end

local now = clock_ms()
redis.call('LREM', K.queue, 0, id)
redis.call('ZREM', K.scheduled, id)
if redis.call('ZREM', K.active, id) == 1 then
  redis.call('ZADD', K.cancelled, now, id)
  -- Entries of a worker that vanished are never taken out by it: drop day-old ones.
  redis.call('ZREMRANGEBYSCORE', K.cancelled, '-inf', now - 86400000)
end
st.status = 'cancelled'
st.reason = 'cancelled'
st.finished_at = now
st.worker = nil
st.due_at = nil
limit_unpark_one(K, id, st)  -- (a record parked without ps: its entry is dropped when the group is released)
st.parked = nil
limit_release(K, id, st)
release_unique(K, id, st, now)  -- before the record is saved: it notes how the lock was held
redis.call('HSET', K.state, id, cjson.encode(st))
flow_done(K, id, st, now, false, nil, 'cancelled')
redis.call('HSET', K.errors, id, ARGV[2])
redis.call('ZADD', K.dead, now, id)
bump(K, 'cancelled', 1)
if redis.call('SREM', K.watched, id) == 1 then
  local key = KEYS[10]
  local kt = redis.call('TYPE', key)['ok']
  if kt == 'none' or kt == 'list' then
    redis.call('LPUSH', key, '1')
    redis.call('PEXPIRE', key, 60000)
  end
end
event('cancelled', id, {})
flush_events()
return {'cancelled', status or ''}
