-- Shared fragment: the checks a script makes before it writes, and the
-- writes that cannot fail. Included first by every script that changes a
-- queue's keys. Defines local helpers only.
--
-- Redis does not roll a script back when a command or a Lua operation fails
-- halfway: the writes made before the error stay. So every value a script
-- reads from Redis is checked before it is used, and what fails the checks
-- is set aside (quarantine) or treated as absent, never half-processed:
--
-- * check_types(K): refuse to run, before any write, when one of a queue's
--   keys holds the wrong Redis type (garbage written by hand or by another
--   program); the error names the key and the caller backs off.
-- * valid_id(s): s can be a job id (the rule of aioresque/_names.py:
--   1 to 200 of A-Z a-z 0-9 - _ . : @ + =).
-- * int_in / num_in: a decoded JSON value is a finite number in range.
-- * check_state(st): a decoded state record, checked field by field (every
--   field: known ones against their type and range, unknown ones must be
--   scalars or JSON that encodes again), so that writing it back cannot fail
--   or change a value (cjson rejects NaN/Infinity on encode, turns [] into {}
--   and rounds numbers); nil and the reason when a field fails.
-- * read_state(K, id, reads): HGET + decode + check_state; nil and a reason when
--   the record is missing ('missing'), is of a format newer than `reads` when
--   that is given ('newer', see too_new), or fails the checks.
-- * quarantine(K, raw, where, reason, now): keep what cannot be a job in the
--   queue's quarantine hash (field: the raw bytes, value "<ms>|<where>|<reason>");
--   returns 1 when it was not there yet, and counts those in quarantined_now. The
--   caller removes it from where it was. Without K.quarantine (a script whose
--   caller does not pass the key) nothing is written and the caller leaves
--   the value where it is, untouched.
-- * clock_ms(): Redis's clock in ms.
-- * bump(K, field, n): add n to a counter of K.stats; a counter holding
--   something that is not an integer restarts at n instead of failing.
--
-- K maps field names (queue, active, ...) to keys; unknown fields are not checked.

local KEY_TYPES = {queue = 'list', scheduled = 'zset', active = 'zset', done = 'zset', dead = 'zset',
                   jobs = 'hash', state = 'hash', results = 'hash', errors = 'hash', marker = 'zset',
                   stats = 'hash', watched = 'set', cancelled = 'zset', paused = 'string',
                   history = 'hash', cron = 'hash', unique = 'hash',
                   limits = 'hash', waiting = 'zset', reopen = 'zset', flows = 'hash',
                   quarantine = 'hash', progress = 'hash', events = 'stream', listening = 'string'}

local function check_types(K)
  for field, key in pairs(K) do
    local want = KEY_TYPES[field]
    if want then
      local got = redis.call('TYPE', key)['ok']
      if got ~= 'none' and got ~= want then
        local message = 'WRONGTYPE aioresque: key ' .. key .. ' holds a ' .. got .. ', expected a ' .. want
        -- Redis 7 replies with a raised table's message as is; Redis 6.2 cannot
        -- raise a table (its error handler garbles it), so it gets a string.
        if redis.REDIS_VERSION_NUM then error({err = message}) end
        error(message, 0)
      end
    end
  end
end

local MAX_INT = 9007199254740992       -- 2^53: the largest count trusted (exact in a double)
local MAX_MS = 253402300799999         -- the last millisecond of year 9999
local MAX_STEPS = 1000000              -- most steps (or inputs) one workflow record may name

local function valid_id(s)
  -- '.' and '..' are refused as in _names.py: a URL path cannot address them.
  return type(s) == 'string' and #s <= 200 and s ~= '.' and s ~= '..'
    and string.find(s, '^[A-Za-z0-9_.:@+=%-]+$') ~= nil
end

-- NaN fails every comparison and infinities fail the bounds.
local floor = math.floor
local function int_in(v, lo, hi)
  return type(v) == 'number' and v >= lo and v <= hi and floor(v) == v
end

local function num_in(v, lo, hi)
  return type(v) == 'number' and v >= lo and v <= hi
end

local STATUSES = {queued = true, scheduled = true, active = true, retrying = true, complete = true,
                  failed = true, dead = true, cancelled = true}

local function is_count(v) return type(v) == 'number' and v >= 0 and v <= MAX_INT and floor(v) == v end
local function is_ms(v) return type(v) == 'number' and v >= 0 and v <= MAX_MS end
local function is_str(v) return type(v) == 'string' end
local function is_bool(v) return type(v) == 'boolean' end
local function is_status(v) return STATUSES[v] == true end
local function is_pos(v) return type(v) == 'number' and v >= 1 and v <= MAX_INT and floor(v) == v end
local function is_num(v) return type(v) == 'number' and v >= 0 and v <= MAX_INT end
local function is_step(v) return type(v) == 'number' and v >= 1 and v <= MAX_STEPS and floor(v) == v end
local function is_steps(v) return type(v) == 'number' and v >= 0 and v <= MAX_STEPS and floor(v) == v end
local function is_mode(v) return v == 'f' or v == 'q' or v == 't' end

-- What each known field of a state record must be. Every other field is kept
-- when it is a string, a boolean, a finite number or a table that encodes
-- again (fields of a newer format, see aioresque/_format.py).
local STATE_FIELDS = {
  v = is_pos, status = is_status, name = is_str, attempts = is_count, failures = is_count, lost = is_count,
  refused = is_count, max_attempts = is_count, timeout = is_num, enqueued_at = is_ms, started_at = is_ms,
  finished_at = is_ms, due_at = is_ms, revived_at = is_ms, worker = is_str, reason = is_str, uk = is_str,
  um = is_mode, ut = is_count, lk = is_str, lg = is_str, parked = is_bool, ps = is_count, wf = valid_id,
  wi = is_step, wcb = is_bool, win = is_steps, schedule = is_str}

-- Every field of st is checked, so st is returned as it is: once it passed,
-- encoding it again cannot fail and changes no value (numbers are finite and
-- exact, unknown tables were encoded once already).
local function check_state(st)
  if type(st) ~= 'table' then return nil, 'not a JSON object' end
  for k, v in pairs(st) do
    local ok = STATE_FIELDS[k]
    if ok then
      if v == cjson.null then
        st[k] = nil  -- a known field set to null counts as absent (clearing a field during pairs is allowed)
      elseif not ok(v) then
        return nil, 'bad field ' .. k
      end
    elseif type(k) ~= 'string' then
      return nil, 'not a JSON object'
    elseif not (type(v) == 'string' or type(v) == 'boolean' or num_in(v, -MAX_INT, MAX_INT)
                or v == cjson.null or (type(v) == 'table' and pcall(cjson.encode, v))) then
      return nil, 'bad field'
    end
  end
  if st.status == nil then return nil, 'no status' end
  return st, nil
end

-- True when a state record's format is newer than `reads` (the newest this
-- worker's release claims), or not a format at all: such a job is left for a
-- newer worker. A record without v is format 1. Mirrors aioresque/_format.py.
local function too_new(st, reads)
  local v = st.v
  if v == nil then v = 1 end
  if type(v) ~= 'number' or v ~= math.floor(v) or v < 1 then return true end
  return v > reads
end

local function read_state(K, id, reads)
  local raw = redis.call('HGET', K.state, id)
  if not raw then return nil, 'missing' end
  local ok, st = pcall(cjson.decode, raw)
  if not ok then return nil, 'state record is not JSON' end
  if reads and type(st) == 'table' and too_new(st, reads) then return nil, 'newer' end
  local c, why = check_state(st)
  if c == nil then return nil, 'state record: ' .. why end
  return c, nil
end

local quarantined_now = 0  -- entries this call quarantined for the first time (scripts report it)

local function quarantine(K, raw, where, reason, now)
  if not K.quarantine then return 0 end  -- a caller without the key leaves it where it is
  local new = redis.call('HSET', K.quarantine, raw, string.format('%d|%s|%s', now, where, reason))
  quarantined_now = quarantined_now + new
  return new
end

local function clock_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function bump(K, field, n)
  local r = redis.pcall('HINCRBY', K.stats, field, n)
  if type(r) == 'number' then return r end
  -- Not an integer (or it would overflow): HINCRBY changed nothing; restart it.
  redis.call('HSET', K.stats, field, n)
  return n
end
