-- Shared fragment: uniqueness locks (see aioresque/_unique.py). A lock is a
-- field of the queue's unique hash: key -> "<expiry ms or 0>|<mode>|<job id>",
-- mode 'f' (until finished), 'q' (while waiting) or 't' (for its ttl). A job
-- holding one has st.uk = its key.

-- Release the lock (in K.unique) job `id` holds, if it still holds it. A 'ttl' lock stays
-- until it expires: that is its point.
local function release_unique(K, id, st, now)
  if st == nil or st.uk == nil then return end
  local entry = redis.call('HGET', K.unique, st.uk)
  if not entry then return end
  local exp, mode, holder = string.match(entry, '^(%d+)|(%a)|(.*)$')
  if holder ~= id then return end
  if mode == 't' and tonumber(exp) > now then return end
  redis.call('HDEL', K.unique, st.uk)
end
