-- Shared fragment: job events for followers (Job.events(), Queue.events()).
--
-- Scripts queue events with event() as they change jobs, and call
-- flush_events() once at the end, after every other write. Events are
-- written to the queue's capped stream only while its `listening` flag exists
-- (a follower renews it): a queue nobody follows pays no command for events.
-- take() learns the flag in the same MGET that reads the pause flag, so a
-- claim costs nothing extra; otherwise flush_events asks once per call.
--
-- Key fields: events (the stream), listening (the flag); a script sets
-- EVENT_KEYS to them, and one that does not writes no events. flush_events never
-- raises: a stream key of the wrong type means no events, not a failed script.

local EVENTS_MAXLEN = 10000
local EVENTS = {}
local EVENTS_ON = nil  -- nil until known: true while someone follows the queue
local EVENT_KEYS = nil  -- the including script sets {events = KEYS[i], listening = KEYS[j]}

local function event(kind, id, data)
  if EVENTS_ON == false or EVENT_KEYS == nil then return end
  EVENTS[#EVENTS + 1] = {kind, id, data}
end

-- True unless it is known that nobody listens (lets callers skip building event data).
local function events_wanted()
  return EVENTS_ON ~= false and EVENT_KEYS ~= nil
end

-- The message of an error record (JSON written by the worker), short; '' when unreadable.
local function error_text(raw)
  local ok, e = pcall(cjson.decode, raw)
  if ok and type(e) == 'table' and type(e.error) == 'string' then return string.sub(e.error, 1, 1000) end
  return ''
end

local function flush_events(K)
  K = K or EVENT_KEYS
  if #EVENTS == 0 or K == nil or K.events == nil or K.listening == nil then return end
  if EVENTS_ON == nil then EVENTS_ON = redis.call('EXISTS', K.listening) == 1 end
  if not EVENTS_ON then return end
  local t = redis.call('TYPE', K.events)['ok']
  if t ~= 'none' and t ~= 'stream' then return end
  for _, e in ipairs(EVENTS) do
    redis.call('XADD', K.events, 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'k', e[1], 'j', e[2], 'd', cjson.encode(e[3]))
  end
  EVENTS = {}
end
