-- watch: read a job's state and, unless it is finished, register interest so
-- that settle.lua pushes to the job's notify list when it finishes.
--
-- A job in the queue's quarantine hash (its id or record could not be
-- processed, see _guard.lua) never finishes: it is reported as a dead record
-- whose reason says so, and no interest is registered.
--
-- KEYS: 1 state, 2 watched, 3 quarantine (optional)
-- ARGV: 1 job id
-- Returns: the state JSON, or '' when the job does not exist.

if KEYS[3] then
  local q = redis.pcall('HGET', KEYS[3], ARGV[1])
  if type(q) == 'string' then
    local where, why = string.match(q, '^%d+|([^|]*)|(.*)$')
    return cjson.encode({v = 1, status = 'dead', quarantined = true,
                         reason = 'quarantined (found in ' .. (where or '?') .. '): ' .. (why or q)})
  end
end
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return '' end
local ok, st = pcall(cjson.decode, raw)
local finished = ok and type(st) == 'table' and
  (st.status == 'complete' or st.status == 'failed' or st.status == 'dead' or st.status == 'cancelled')
if not finished then
  redis.call('SADD', KEYS[2], ARGV[1])
end
return raw
