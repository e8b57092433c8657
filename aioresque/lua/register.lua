-- register: record (or renew) one worker's registration, on Redis's clock,
-- and prune registrations that expired without being removed.
--
-- The registration is a JSON string with a TTL, so a worker that stops
-- beating (SIGKILL, OOM, host gone) disappears on its own; the index keeps
-- each id scored by the time its registration expires, so pruning is one
-- range removal, never a scan of the keyspace.
--
-- KEYS: 1 index, 2 the worker's record
-- ARGV: 1 worker id, 2 record JSON (an object), 3 started-at ms or '' on the
--       first registration, 4 ttl (ms)
-- Returns: {now ms, started-at ms, ids pruned}

-- The index is checked before the first write: a script that failed on it
-- after SET would leave a registration no index lists.
local itype = redis.call('TYPE', KEYS[1])['ok']
if itype ~= 'none' and itype ~= 'zset' then
  local message = 'WRONGTYPE aioresque: key ' .. KEYS[1] .. ' holds a ' .. itype .. ', expected a zset'
  if redis.REDIS_VERSION_NUM then error({err = message}) end
  error(message, 0)
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[4])
local record = cjson.decode(ARGV[2])
record.started_at = tonumber(ARGV[3]) or now
record.last_heartbeat = now
redis.call('SET', KEYS[2], cjson.encode(record), 'PX', ttl)
local pruned = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
return {now, record.started_at, pruned}
