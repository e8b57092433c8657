-- resque_import: move jobs that Ruby Resque enqueued into the aioresque queue
-- of the same name, each one atomically (popped and recorded in one script,
-- so a crash can neither lose nor duplicate it).
--
-- A Resque entry is JSON {"class": "SendEmail", "args": [...]} (Resque.push's
-- RPUSH; Resque's workers LPOP, so the oldest comes first here too). It
-- becomes a job named after its class whose payload is the entry's bytes,
-- untouched (never re-encoded: cjson would turn [] into {} and round numbers
-- past 14 digits); its state record says `resque = <queue name>` so that the
-- worker decodes the payload as Resque JSON, whatever the queue's serializer.
-- An entry that is not such an object (not JSON, no class, a class that is no
-- valid handler name, args not an array) goes to the dead set at once with its
-- raw bytes kept as the payload, and to Resque's failed list when the Resque
-- counters' keys are passed (see _resque.lua).
--
-- Fairness with Ruby workers serving the same Resque queue: at most
-- `ahead - LLEN(queue)` entries are taken, so the importer never holds more
-- than `ahead` jobs waiting in aioresque while the rest stay in Resque's list.
--
-- KEYS: 1 the Resque list (<ns>:queue:<name>), 2 queue, 3 jobs, 4 state, 5 marker,
--       6 stats, 7 dead, 8 errors, 9 the queue registry ({meta}:queues),
--       10 <ns>:failed, 11 <ns>:stat:processed, 12 <ns>:stat:failed
-- ARGV: 1 queue name, 2 ahead, 3 worker id, 4.. fresh job ids (as many as may be imported)
-- Returns: {imported, dead, entries left in the Resque list, room left (ahead - queued)}

-- @include _guard.lua
-- @include _resque.lua

local K = {source = KEYS[1], queue = KEYS[2], jobs = KEYS[3], state = KEYS[4], marker = KEYS[5],
           stats = KEYS[6], dead = KEYS[7], errors = KEYS[8]}
local name, ahead, worker = ARGV[1], tonumber(ARGV[2]), ARGV[3]

-- The idle case first (one call a second per Resque queue on an idle worker):
-- nothing to import costs one read and no type checks (the room reported is
-- then not measured: nothing was imported, so the caller does not use it).
local left = redis.pcall('LLEN', K.source)
if left == 0 then return {0, 0, 0, ahead} end

check_types(K)
local st_source = redis.call('TYPE', K.source)['ok']
if st_source ~= 'none' and st_source ~= 'list' then
  local message = 'WRONGTYPE aioresque: Resque key ' .. K.source .. ' holds a ' .. st_source .. ', expected a list'
  if redis.REDIS_VERSION_NUM then error({err = message}) end
  error(message, 0)
end
local reg = redis.call('TYPE', KEYS[9])['ok']
if reg ~= 'none' and reg ~= 'set' then
  local message = 'WRONGTYPE aioresque: key ' .. KEYS[9] .. ' holds a ' .. reg .. ', expected a set'
  if redis.REDIS_VERSION_NUM then error({err = message}) end
  error(message, 0)
end
resque_setup(K, 10, #KEYS)

left = redis.call('LLEN', K.source)
local queued = redis.call('LLEN', K.queue)
local room = math.min(ahead - queued, #ARGV - 3)
if left == 0 or room <= 0 then return {0, 0, left, ahead - queued} end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- Why an entry cannot be a job, or nil when it can (then also its class).
local function check(raw)
  local ok, entry = pcall(cjson.decode, raw)
  if not ok then return 'the entry is not JSON' end
  if type(entry) ~= 'table' then return 'the entry is not a JSON object' end
  local class = entry['class']
  if type(class) ~= 'string' then return 'the entry has no class name' end
  if #class == 0 or #class > 200 or string.find(class, '[^%w%-_%.:@%+=]') then
    return 'the class name is not a valid handler name'
  end
  local args = entry['args']
  if args ~= nil and type(args) ~= 'table' then return 'the args are not an array' end
  if not resque_utf8(raw) then return 'the entry is not valid UTF-8' end
  return nil, class
end

local imported, dead = 0, 0
for i = 1, room do
  local raw = redis.call('LPOP', K.source)
  if not raw then break end
  local id = ARGV[3 + i]
  local reason, class = check(raw)
  redis.call('HSET', K.jobs, id, raw)
  if reason == nil then
    local st = {v = 1, name = class, attempts = 0, failures = 0, lost = 0, enqueued_at = now,
                status = 'queued', resque = name}
    redis.call('HSET', K.state, id, cjson.encode(st))
    redis.call('LPUSH', K.queue, id)
    imported = imported + 1
  else
    local st = {v = 1, name = 'resque', attempts = 0, failures = 0, lost = 0, enqueued_at = now,
                status = 'dead', reason = 'BadPayload: ' .. reason, finished_at = now, resque = name}
    redis.call('HSET', K.state, id, cjson.encode(st))
    redis.call('HSET', K.errors, id, cjson.encode({error = 'BadPayload: ' .. reason, type = 'BadPayload',
                                                   kind = 'payload'}))
    redis.call('ZADD', K.dead, now, id)
    resque_died(K, id, st, now, worker, {type = 'BadPayload', message = reason})
    dead = dead + 1
  end
end
if imported + dead > 0 then
  bump(K, 'enqueued', imported + dead)
  bump(K, 'resque_imported', imported + dead)
  if dead > 0 then bump(K, 'dead', dead) end
  redis.call('SADD', KEYS[9], name)
end
if imported > 0 then redis.call('ZADD', K.marker, 0, 'w') end
return {imported, dead, redis.call('LLEN', K.source), ahead - queued - imported - dead}
