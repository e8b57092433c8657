-- settle: record the outcomes of finished jobs, then optionally claim more.
--
-- Each outcome is accepted only while the worker still holds the job's lease
-- (state says active, owned by this worker, same attempt, and the job is in
-- the active set); otherwise it is refused and counted, never applied twice.
--
-- Outcome kinds:
--   complete  value = serialized result; job goes to the done set.
--   fail      value = error JSON; retried after delay while failures <
--             max attempts, else the job goes to the dead set as 'failed'.
--   abort     value = error JSON; as fail, but never retried (a
--             non-retryable error): the job is 'failed' at once.
--   dead      value = error JSON; the job goes to the dead set at once.
--   requeue   the job goes back to the head of its queue and the attempt it
--             used is given back (graceful shutdown).
--
-- Afterwards, on the calls where the worker asks for maintenance (every few
-- dozen outcomes or 50 ms, not every call), finished records older than the
-- retention age or beyond the retention count are pruned, a bounded number
-- per call, and the claim recovers expired leases and promotes due jobs
-- first. A job that ends (complete, failed, dead) or is pruned releases its
-- uniqueness lock.
--
-- A job whose state record fails the checks (see _guard.lua) is not settled:
-- it leaves the active set for the quarantine hash, whole, its waiters are
-- woken (result() then reports it quarantined), and its code is 'quarantined'.
--
-- KEYS: 1 queue, 2 scheduled, 3 active, 4 jobs, 5 state, 6 marker, 7 dead,
--       8 stats, 9 results, 10 errors, 11 done, 12 watched, 13 paused,
--       14 history, 15 unique, 16 limits, 17 waiting, 18 reopen, 19 flows, 20 quarantine,
--       21 events, 22 listening (job events for followers, see _events.lua),
--       23 progress (pruned with the records; garbage there is left alone),
--       then optionally 24 <ns>:failed, 25 <ns>:stat:processed, 26 <ns>:stat:failed
--       (Resque-origin jobs are reported there: _resque.lua),
--       then one notify key per outcome, in order (the last `count` KEYS)
-- ARGV: 1 worker id, 2 lease (ms), 3 max lost, 4 claim n,
--       5 done ttl (ms), 6 done max, 7 dead ttl (ms), 8 dead max,
--       9 outcome count, then per outcome 6 values:
--       id, attempt, kind, value, retry delay (ms),
--       max attempts (the handler's, used when the job did not set its own),
--       then 2 values: the newest state record format the worker claims,
--       maintain ('1' to prune and to recover/promote before claiming, '0' not),
--       then the worker's limits as in claim.lua (count, then 4 values per handler)
-- Returns: {{'ok' | 'refused' | 'quarantined' per outcome}, now, '', dropped, items, newer,
--          quarantined} (the last four as in claim.lua; empty when claim n is 0; the next
--          wake is never computed here: a worker that settles is not idle)

-- @include _guard.lua
-- @include _events.lua
-- @include _limit.lua
-- @include _flow.lua
-- @include _take.lua
-- @include _unique.lua

local K = {queue = KEYS[1], scheduled = KEYS[2], active = KEYS[3], jobs = KEYS[4],
           state = KEYS[5], marker = KEYS[6], dead = KEYS[7], stats = KEYS[8],
           results = KEYS[9], errors = KEYS[10], done = KEYS[11], watched = KEYS[12],
           paused = KEYS[13], history = KEYS[14], unique = KEYS[15],
           limits = KEYS[16], waiting = KEYS[17], reopen = KEYS[18], flows = KEYS[19],
           quarantine = KEYS[20]}
check_types(K)
EVENT_KEYS = {events = KEYS[21], listening = KEYS[22]}
local worker = ARGV[1]
local now = now_ms()
local count = tonumber(ARGV[9])
resque_setup(K, 24, #KEYS - count)
local maintain = ARGV[11 + count * 6] == '1'
local codes = {}
local woke = false
local n_completed, n_failed = 0, 0  -- for the history ring
-- Counter increments, applied once per call rather than once per outcome.
local counts = {refused = 0, completed = 0, failed = 0, retried = 0, dead = 0}

local function notify(i, id)
  if redis.call('SREM', K.watched, id) == 1 then
    local key = KEYS[#KEYS - count + i]  -- the notify keys come last
    local t = redis.call('TYPE', key)['ok']
    if t == 'none' or t == 'list' then  -- garbage in a notify key must not stop the settle
      redis.call('LPUSH', key, '1')
      redis.call('PEXPIRE', key, 60000)
    end
  end
end

for i = 1, count do
  local b = 10 + (i - 1) * 6
  local id, attempt, kind, value = ARGV[b], tonumber(ARGV[b + 1]), ARGV[b + 2], ARGV[b + 3]
  local st, why = read_state(K, id)
  if st == nil and why ~= 'missing' then
    codes[i] = 'quarantined'
    redis.call('ZREM', K.active, id)
    quarantine(K, id, 'active', why, now)
    notify(i, id)
  elseif st == nil or st.status ~= 'active' or st.worker ~= worker or st.attempts ~= attempt
      or redis.call('ZSCORE', K.active, id) == false then
    codes[i] = 'refused'
    counts.refused = counts.refused + 1
    if st ~= nil then
      st.refused = (st.refused or 0) + 1
      save_state(K, id, st)
    end
  else
    codes[i] = 'ok'
    redis.call('ZREM', K.active, id)
    st.worker = nil
    limit_release(K, id, st)  -- whatever the outcome, the job no longer runs
    if kind == 'complete' then
      st.status = 'complete'
      st.finished_at = now
      redis.call('HSET', K.results, id, value)
      redis.call('ZADD', K.done, now, id)
      counts.completed = counts.completed + 1
      n_completed = n_completed + 1
      release_unique(K, id, st, now)
      resque_processed(K, st)
      flow_done(K, id, st, now, true, value, 'complete')
      notify(i, id)
      event('completed', id, {attempt = st.attempts})
    elseif kind == 'fail' or kind == 'abort' then
      st.failures = (st.failures or 0) + 1
      redis.call('HSET', K.errors, id, value)
      counts.failed = counts.failed + 1
      n_failed = n_failed + 1
      if kind == 'fail' and st.failures < (st.max_attempts or tonumber(ARGV[b + 5])) then
        local due = now + tonumber(ARGV[b + 4])
        st.status = 'retrying'
        st.due_at = due
        redis.call('ZADD', K.scheduled, due, id)
        counts.retried = counts.retried + 1
        woke = true
        if events_wanted() then event('retrying', id, {attempt = st.attempts, due_at = due, error = error_text(value)}) end
      else
        st.status = 'failed'
        st.finished_at = now
        redis.call('ZADD', K.dead, now, id)
        counts.dead = counts.dead + 1
        release_unique(K, id, st, now)
        resque_died(K, id, st, now, worker, value)
        flow_done(K, id, st, now, false, nil, 'failed')
        notify(i, id)
        if events_wanted() then event('failed', id, {attempt = st.attempts, error = error_text(value)}) end
      end
    elseif kind == 'dead' then
      st.status = 'dead'
      st.finished_at = now
      redis.call('HSET', K.errors, id, value)
      redis.call('ZADD', K.dead, now, id)
      counts.dead = counts.dead + 1
      n_failed = n_failed + 1
      release_unique(K, id, st, now)
      resque_died(K, id, st, now, worker, value)
      flow_done(K, id, st, now, false, nil, 'dead')
      notify(i, id)
      if events_wanted() then event('dead', id, {attempt = st.attempts, error = error_text(value)}) end
    else -- requeue
      st.status = 'queued'
      st.attempts = math.max((st.attempts or 1) - 1, 0)
      st.started_at = nil
      redis.call('RPUSH', K.queue, id)
      woke = true
    end
    save_state(K, id, st)
  end
end
if woke then wake(K) end
for _, name in ipairs({'refused', 'completed', 'failed', 'retried', 'dead'}) do
  if counts[name] > 0 then bump(K, name, counts[name]) end
end

-- Throughput history (dashboards): a ring of 60 one-minute slots, one field
-- each, "minute:completed:failed"; a slot holding an older minute restarts.
-- Two commands per settle call, whatever the batch size.
if n_completed + n_failed > 0 then
  local minute = math.floor(now / 60000)
  local slot = tostring(minute % 60)
  local c, f = n_completed, n_failed
  local old = redis.call('HGET', K.history, slot)
  if old then
    local m, oc, of = string.match(old, '^(%d+):(%d+):(%d+)$')
    -- A slot that is not three integers (garbage) restarts like an old one.
    if m and #oc <= 15 and #of <= 15 and tonumber(m) == minute then c, f = c + tonumber(oc), f + tonumber(of) end
  end
  redis.call('HSET', K.history, slot, string.format('%d:%d:%d', minute, c, f))
end

-- Retention: drop the oldest finished records past their age or count.
local has_locks, has_flows = nil, nil
local function prune(set, ttl, max)
  local ids = redis.call('ZRANGEBYSCORE', set, '-inf', now - ttl, 'LIMIT', 0, 100)
  local over = redis.call('ZCARD', set) - #ids - max
  if over > 0 then
    local more = redis.call('ZRANGE', set, #ids, #ids + math.min(over, 100) - 1)
    for _, id in ipairs(more) do ids[#ids + 1] = id end
  end
  if #ids > 0 and has_locks == nil then
    has_locks = redis.call('EXISTS', K.unique) == 1
    has_flows = redis.call('EXISTS', K.flows) == 1
  end
  for _, id in ipairs(ids) do
    -- Only jobs with a lock still held ('ttl' mode, or lost by recovery) need this.
    if has_locks then release_unique(K, id, load_state(K, id), now) end
    if has_flows then flow_prune(K, load_state(K, id), now) end
    redis.call('ZREM', set, id)
    redis.call('HDEL', K.jobs, id)
    redis.call('HDEL', K.state, id)
    redis.call('HDEL', K.results, id)
    redis.call('HDEL', K.errors, id)
    redis.pcall('HDEL', KEYS[23], id)  -- progress: a wrong-typed key must not stop the prune
    redis.call('SREM', K.watched, id)
  end
end
local n = tonumber(ARGV[4])
local taken = {now, '', {}, {}, {}}
if n > 0 then
  taken = take(K, now, worker, n, tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[10 + count * 6]),
               parse_limits(12 + count * 6), maintain, false)
end
-- Pruned when asked, and whenever the call claims nothing or the queue ran dry (the worker may go idle
-- now, and retention should hold from then on).
if maintain or n == 0 or #taken[4] < n * 3 then
  prune(K.done, tonumber(ARGV[5]), tonumber(ARGV[6]))
  prune(K.dead, tonumber(ARGV[7]), tonumber(ARGV[8]))
end
flush_events()
return {codes, taken[1], taken[2], taken[3], taken[4], taken[5], quarantined_now}
