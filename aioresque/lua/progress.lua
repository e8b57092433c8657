-- progress: record the latest progress of jobs this worker is running.
--
-- The worker coalesces a job's set_progress() calls and sends only the
-- latest value, a few times a second at most and once more before the job's
-- outcome. A value is written only while the job is still active and held by
-- this worker under the same attempt (a job lost or cancelled meanwhile, or
-- one whose record fails the checks, is skipped). Everything is checked
-- before the first write.
--
-- KEYS: 1 state, 2 progress, 3 events, 4 listening
-- ARGV: 1 worker id, then per job 4 values: id, attempt, value (0..1), message ('' for none)
-- Returns: the number of jobs whose progress was written; an error naming the
--          key when state or progress holds the wrong type (nothing written)

-- @include _guard.lua
-- @include _events.lua

local K = {state = KEYS[1], progress = KEYS[2]}
check_types(K)
EVENT_KEYS = {events = KEYS[3], listening = KEYS[4]}
local worker = ARGV[1]
local now = clock_ms()
local accepted = {}
for b = 2, #ARGV - 3, 4 do
  local id, attempt, value, message = ARGV[b], tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), ARGV[b + 3]
  if valid_id(id) and attempt and value and value == value and value >= 0 and value <= 1 and #message <= 4096 then
    local st = read_state(K, id)
    if st and st.status == 'active' and st.worker == worker and st.attempts == attempt then
      accepted[#accepted + 1] = {id, value, message}
    end
  end
end
for _, a in ipairs(accepted) do
  local record = {v = a[2], t = now}
  if a[3] ~= '' then record.m = a[3] end
  redis.call('HSET', K.progress, a[1], cjson.encode(record))
  event('progress', a[1], {value = a[2], message = record.m})
end
flush_events()
return #accepted
