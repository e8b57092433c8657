-- peek: read fields of one of a queue's hashes, leaving out values too large to load.
--
-- The listings (aioresque dead, the dashboard's pages and overview) read the
-- records of a batch of jobs at once. A value larger than the limit is
-- answered with its size instead, so one huge record (a 30 MB error) does not
-- travel on every refresh; Job.info() reads such a value whole with HGET.
-- Read-only: it writes nothing, so it cannot leave anything half-done; a key
-- of the wrong Redis type fails the call (check_types) before any read.
--
-- KEYS: 1 the hash (a queue's state, jobs, results or errors hash)
-- ARGV: 1 which of those it is ('state', 'jobs', 'results' or 'errors'),
--       2 the largest value returned, in bytes, 3.. the fields to read
-- Returns: per field, in order: its value, nil when absent, or its size in
--          bytes (an integer) when it is larger than the limit

-- @include _guard.lua

local K = {}
K[ARGV[1]] = KEYS[1]
check_types(K)
local limit = tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV do
  local size = redis.call('HSTRLEN', KEYS[1], ARGV[i])
  if size > limit then
    out[#out + 1] = size
  else
    out[#out + 1] = redis.call('HGET', KEYS[1], ARGV[i])
  end
end
return out
