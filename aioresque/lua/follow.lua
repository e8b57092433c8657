-- follow: start following a queue's events, or one job's: mark the queue as
-- followed and return, in one atomic step, where its event stream ends now
-- together with the job's current records. Every event after that position
-- is read from the stream; everything before it is in the records, so a late
-- follower neither misses nor repeats an event.
--
-- KEYS: 1 events, 2 listening, 3 state, 4 progress
-- ARGV: 1 how long the flag lives (ms; the follower renews it), 2 job id ('' to follow the whole queue)
-- Returns: {last stream id ('0-0' when empty), state JSON or '', progress JSON or ''};
--          an error naming the key when events or listening hold the wrong type (nothing written)

-- @include _guard.lua

check_types({events = KEYS[1], listening = KEYS[2]})
local ttl = tonumber(ARGV[1])
if not ttl or ttl < 1 then return redis.error_reply('ERR aioresque: follow.lua needs a positive ttl') end
local last = '0-0'
local tail = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if tail[1] then last = tail[1][1] end
local state, progress = '', ''
if ARGV[2] ~= '' then
  local s = redis.pcall('HGET', KEYS[3], ARGV[2])
  if type(s) == 'string' then state = s end
  local p = redis.pcall('HGET', KEYS[4], ARGV[2])
  if type(p) == 'string' then progress = p end
end
redis.call('SET', KEYS[2], '1', 'PX', ttl)
return {last, state, progress}
