-- extend: renew the leases of a worker's in-flight jobs on one queue.
--
-- KEYS: 1 active, 2 state
-- ARGV: 1 worker id, 2 lease (ms), 3.. job ids
-- Returns: for each id whose lease this worker no longer holds, the id and
--          the job's status now ('' when it has no record), flat: {id, status, ...}.

-- @include _guard.lua

check_types({active = KEYS[1], state = KEYS[2]})

local deadline = clock_ms() + tonumber(ARGV[2])
local lost = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local held = false
  local status = ''
  -- A record that fails the checks (see _guard.lua) holds no lease: the
  -- worker stops the job, and whoever meets the id next quarantines it.
  local st, why = read_state({state = KEYS[2]}, id)
  if st ~= nil then
    status = st.status
    held = st.status == 'active' and st.worker == ARGV[1] and redis.call('ZSCORE', KEYS[1], id) ~= false
  elseif why ~= 'missing' then
    status = 'quarantined'
  end
  if held then
    redis.call('ZADD', KEYS[1], deadline, id)
  else
    lost[#lost + 1] = id
    lost[#lost + 1] = status
  end
end
return lost
