-- Shared fragment: uniqueness locks (see aioresque/_unique.py). A lock is a
-- field of the queue's unique hash: key -> "<expiry ms or 0>|<mode>|<job id>",
-- mode 'f' (until finished), 'q' (while waiting) or 't' (for its ttl). A job
-- holding one has st.uk = its key. Once the lock is released, st.um (mode)
-- and st.ut (ttl ms, 0 for none) remember how it was held, so retry.lua can
-- take it again the same way.
--
-- K fields: unique, state (unique_live_holder reads state only).
--
-- A lock entry is parsed by unique_parse only: an entry that is not of that
-- shape (garbage, or an expiry past year 9999) counts as no lock, so no
-- helper here can fail on it.

-- The expiry (ms, 0 for none), mode and holder of lock entry `entry`, or nil.
local function unique_parse(entry)
  local exp, mode, holder = string.match(entry, '^(%d+)|([fqt])|(.*)$')
  if not exp or #exp > 15 then return nil end
  exp = tonumber(exp)
  if exp > MAX_MS then return nil end
  return exp, mode, holder
end

-- Remember in st how job `id` holds its lock (the caller saves st).
local function unique_remember(st, entry)
  if st.um ~= nil then return end
  local exp, mode = unique_parse(entry)
  if not exp then return end
  st.um = mode
  local ttl = 0
  if exp > 0 then ttl = math.max(1, math.floor(exp - math.min(st.enqueued_at or exp, exp))) end
  st.ut = ttl
end

-- Release the lock (in K.unique) job `id` holds, if it still holds it. A 'ttl' lock stays
-- until it expires: that is its point.
local function release_unique(K, id, st, now)
  if st == nil or st.uk == nil then return end
  local entry = redis.call('HGET', K.unique, st.uk)
  if not entry then return end
  local exp, mode, holder = unique_parse(entry)
  if holder ~= id then return end
  unique_remember(st, entry)
  if mode == 't' and exp > now then return end
  redis.call('HDEL', K.unique, st.uk)
end

-- The id of the job holding lock `entry` if it still qualifies, else nil:
-- enqueue.lua honours a lock only then, and retry.lua takes a lock back only
-- when it is nil.
local function unique_live_holder(K, entry, now)
  local exp, mode, holder = unique_parse(entry)
  if not exp or not valid_id(holder) then return nil end
  if exp > 0 and now >= exp then return nil end
  if mode == 't' then return holder end
  local st = read_state(K, holder)
  if st == nil then return nil end
  local s = st.status
  if s == 'queued' or s == 'scheduled' or s == 'retrying' then return holder end
  if mode == 'f' and s == 'active' then return holder end
  return nil
end

-- Job `id` (state st, revived from the dead set) takes its lock again, as if
-- enqueued now with the same key, mode and ttl. Returns nil when it holds the
-- lock (or has none), else the id of the live job that holds it now: the
-- caller then leaves the job where it is.
local function unique_retake(K, id, st, now)
  if st.uk == nil then return nil end
  local entry = redis.call('HGET', K.unique, st.uk)
  if entry then
    local holder = unique_live_holder(K, entry, now)
    if holder ~= nil and holder ~= id then return holder end
    if select(3, unique_parse(entry)) == id then unique_remember(st, entry) end
  end
  local mode = st.um
  if mode ~= 'f' and mode ~= 'q' and mode ~= 't' then mode = 'f' end
  local ttl = st.ut or 0
  if mode == 't' and ttl <= 0 then mode = 'f' end
  local exp = 0
  if ttl > 0 then exp = now + ttl end
  -- ttl is now measured from the retry: remember it as such.
  st.um, st.ut = mode, ttl
  redis.call('HSET', K.unique, st.uk, string.format('%d|%s|%s', exp, mode, id))
  return nil
end
