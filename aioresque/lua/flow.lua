-- flow: enqueue a workflow (a chain, or a group with an optional callback)
-- in one queue, atomically (see _flow.lua for the record it creates).
--
-- A chain's first step is queued now and its later steps are stored in the
-- flows hash until the step before them completes; a group's members are
-- all queued now and its callback is stored until every member has finished.
--
-- KEYS: 1 queue, 2 jobs, 3 state, 4 marker, 5 stats, 6 flows, 7 dead
-- ARGV: 1 workflow id, 2 kind ('chain' or 'group'), 3 step count,
--       4 '1' when a callback follows the steps, else '0',
--       then per step (and the callback, last) 6 values:
--       job id, name, payload, max attempts (or ''), timeout (ms or ''), limit key (or '')
-- Returns: {'ok'}, {'exists'} when the workflow id is taken (nothing is
--          changed), or {'conflict', job id} when a job id is taken.

-- @include _guard.lua
-- @include _flow.lua

local K = {queue = KEYS[1], jobs = KEYS[2], state = KEYS[3], marker = KEYS[4], stats = KEYS[5],
           flows = KEYS[6], dead = KEYS[7]}
check_types(K)
local fid, kind, count = ARGV[1], ARGV[2], tonumber(ARGV[3])
local has_cb = ARGV[4] == '1'
if redis.call('HEXISTS', K.flows, fid) == 1 then return {'exists'} end

local total = count
if has_cb then total = count + 1 end
local ids = {}
for i = 1, total do
  local id = ARGV[5 + (i - 1) * 6]
  if redis.call('HEXISTS', K.state, id) == 1 or redis.call('HEXISTS', K.flows, id .. '|d') == 1 then
    return {'conflict', id}
  end
  ids[i] = id
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, total do
  local b = 5 + (i - 1) * 6
  local def = {name = ARGV[b + 1]}
  if ARGV[b + 3] ~= '' then def.ma = tonumber(ARGV[b + 3]) end
  if ARGV[b + 4] ~= '' then def.to = tonumber(ARGV[b + 4]) end
  if ARGV[b + 5] ~= '' then def.lk = ARGV[b + 5] end
  redis.call('HSET', K.flows, ids[i] .. '|d', cjson.encode(def))
  redis.call('HSET', K.flows, ids[i] .. '|p', ARGV[b + 2])
end

local steps = {}
for i = 1, count do steps[i] = ids[i] end
local rec = {kind = kind, status = 'running', steps = steps, created_at = now}
if has_cb then rec.cb = ids[total] end
if kind == 'group' then
  rec.left = count
  rec.failed = 0
  for i = 1, count do flow_create(K, fid, ids[i], now, {wi = i}, nil) end
else
  flow_create(K, fid, ids[1], now, {wi = 1}, nil)
end
redis.call('HSET', K.flows, fid, cjson.encode(rec))
return {'ok'}
