-- watch: read a job's state and, unless it is finished, register interest so
-- that settle.lua pushes to the job's notify list when it finishes.
--
-- KEYS: 1 state, 2 watched
-- ARGV: 1 job id
-- Returns: the state JSON, or '' when the job does not exist.

local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return '' end
local ok, st = pcall(cjson.decode, raw)
local finished = ok and type(st) == 'table' and
  (st.status == 'complete' or st.status == 'failed' or st.status == 'dead' or st.status == 'cancelled')
if not finished then
  redis.call('SADD', KEYS[2], ARGV[1])
end
return raw
