-- Shared fragment: report the end of a Resque-origin job to Ruby Resque.
--
-- A job imported from a Resque list (resque_import.lua) carries `resque` (the
-- Resque queue name) in its state record and Resque's JSON entry, untouched,
-- as its payload. When the caller passes a Resque namespace's keys, a job
-- that ends is counted in <ns>:stat:processed, and one that ends dead also in
-- <ns>:stat:failed and pushed to <ns>:failed in Resque::Failure::Redis's
-- format, in the same script that records the outcome.
--
-- K fields set by resque_setup: rfailed (LIST), rprocessed, rfailedn (STRING
-- counters). Without them (a caller that does not serve Resque) nothing is
-- reported. Included by _take.lua (so claim.lua, settle.lua and recover.lua
-- have it for recover()) and by resque_import.lua.

-- Take the Resque keys KEYS[first], KEYS[first + 1], KEYS[first + 2] into K
-- when the caller passed them (last: the index of the last such key), and
-- check them before the script's first write: the failed list must be a list
-- and the counters integers, or nothing is written and the error names the key.
local function resque_setup(K, first, last)
  if last < first + 2 then return end
  K.rfailed, K.rprocessed, K.rfailedn = KEYS[first], KEYS[first + 1], KEYS[first + 2]
  local function refuse(key, what)
    local message = 'WRONGTYPE aioresque: Resque key ' .. key .. ' ' .. what
    if redis.REDIS_VERSION_NUM then error({err = message}) end
    error(message, 0)
  end
  local t = redis.call('TYPE', K.rfailed)['ok']
  if t ~= 'none' and t ~= 'list' then refuse(K.rfailed, 'holds a ' .. t .. ', expected a list') end
  for _, key in ipairs({K.rprocessed, K.rfailedn}) do
    t = redis.call('TYPE', key)['ok']
    if t ~= 'none' then
      local v = t == 'string' and redis.call('GET', key) or nil
      if v == nil or not string.match(v, '^%-?%d+$') or #v > 17 then
        refuse(key, 'is not an integer counter')
      end
    end
  end
end

-- Resque's failed_at: Time.now.strftime("%Y/%m/%d %H:%M:%S %Z"), here in UTC
-- from Redis's clock (ms). Lua in Redis has no os.date: civil date from days.
local function resque_time(ms)
  local s = math.floor(ms / 1000)
  local days = math.floor(s / 86400)
  local rem = s - days * 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return string.format('%04d/%02d/%02d %02d:%02d:%02d UTC', y, m, d,
                       math.floor(rem / 3600), math.floor(rem % 3600 / 60), rem % 60)
end

local function resque_utf8(s)
  local i, n = 1, #s
  while i <= n do
    local c = string.byte(s, i)
    local len = 0
    if c < 128 then len = 1
    elseif c >= 194 and c <= 223 then len = 2
    elseif c >= 224 and c <= 239 then len = 3
    elseif c >= 240 and c <= 244 then len = 4
    else return false end
    for j = i + 1, i + len - 1 do
      local cc = string.byte(s, j)
      if cc == nil or cc < 128 or cc > 191 then return false end
    end
    i = i + len
  end
  return true
end

-- A JSON string for any bytes: cjson's encoding for valid UTF-8, else every
-- byte that is not printable ASCII escaped as \u00XX (read as Latin-1).
local function resque_jstr(s)
  if type(s) ~= 'string' then s = tostring(s) end
  if resque_utf8(s) then return cjson.encode(s) end
  local out = string.gsub(s, '[%z\1-\31"\\\127-\255]', function(c)
    if c == '"' then return '\\"' end
    if c == '\\' then return '\\\\' end
    return string.format('\\u%04x', string.byte(c))
  end)
  return '"' .. out .. '"'
end

-- A stored payload as JSON to splice into a failure record: as it is when it
-- is valid JSON text (never re-encoded), else as one JSON string.
local function resque_payload(raw)
  if raw and resque_utf8(raw) and pcall(cjson.decode, raw) then return raw end
  return resque_jstr(raw or '')
end

-- A job ended (complete or dead): count it as processed.
local function resque_processed(K, st)
  if K.rprocessed and st and st.resque then redis.call('INCR', K.rprocessed) end
end

-- A Resque-origin job ended dead. err: the JSON error record settle.lua
-- stores (type, message and traceback are read from it), or a table
-- {type = ..., message = ...} from a script that decides the death itself.
-- The payload is the job's stored Resque entry, spliced in as it is when it
-- is JSON (never re-encoded: cjson would turn [] into {} and round numbers).
local function resque_died(K, id, st, now, worker, err)
  if not (K.rfailed and st and st.resque) then return end
  local etype, message, trace = 'aioresque::Error', '', nil
  if type(err) == 'string' then
    local ok, rec = pcall(cjson.decode, err)
    if ok and type(rec) == 'table' then
      if type(rec.type) == 'string' then etype = rec.type end
      if type(rec.message) == 'string' then
        message = rec.message
      elseif type(rec.error) == 'string' then
        -- "Type: text": Resque keeps the text apart from the exception's type.
        message = rec.error
        local prefix = etype .. ': '
        if string.sub(message, 1, #prefix) == prefix then message = string.sub(message, #prefix + 1) end
        if message == etype then message = '' end
      end
      if type(rec.traceback) == 'string' then trace = rec.traceback end
    end
  elseif type(err) == 'table' then
    etype, message = err.type or etype, err.message or ''
  end
  local pjson = resque_payload(redis.call('HGET', K.jobs, id))
  -- The Python traceback as Ruby writes a backtrace: "path:line:in `function'",
  -- innermost frame first (code lines and chained-exception headers dropped).
  local frames = {}
  if trace then
    for path, line, fn in string.gmatch(trace, 'File "([^\n]-)", line (%d+), in ([^\n]+)') do
      frames[#frames + 1] = path .. ':' .. line .. ":in `" .. fn .. "'"
    end
  end
  local lines = {}
  for i = #frames, math.max(1, #frames - 99), -1 do lines[#lines + 1] = resque_jstr(frames[i]) end
  local record = '{"failed_at":' .. resque_jstr(resque_time(now)) .. ',"payload":' .. pjson ..
                 ',"exception":' .. resque_jstr(etype) .. ',"error":' .. resque_jstr(message) ..
                 ',"backtrace":[' .. table.concat(lines, ',') .. '],"worker":' .. resque_jstr(worker or '') ..
                 ',"queue":' .. resque_jstr(st.resque) .. '}'
  redis.call('RPUSH', K.rfailed, record)
  redis.call('INCR', K.rfailedn)
  redis.call('INCR', K.rprocessed)
end
