-- Shared fragment: refuse to run when one of a queue's keys holds the wrong
-- Redis type (garbage written by hand or by another program).
--
-- Redis does not roll a script back when a command fails halfway, so a
-- script that met such a key after its first write would leave a job
-- half-moved (popped from the queue but never recorded, say). Scripts call
-- check_types(K) before their first write instead: they then change nothing
-- and fail with an error naming the key, and the caller backs off.
--
-- K maps field names (queue, active, ...) to keys; unknown fields are not checked.

local KEY_TYPES = {queue = 'list', scheduled = 'zset', active = 'zset', done = 'zset', dead = 'zset',
                   jobs = 'hash', state = 'hash', results = 'hash', errors = 'hash', marker = 'zset',
                   stats = 'hash', watched = 'set', cancelled = 'zset', paused = 'string',
                   history = 'hash', cron = 'hash', unique = 'hash',
                   limits = 'hash', waiting = 'zset', reopen = 'zset', flows = 'hash',
                   progress = 'hash', events = 'stream', listening = 'string'}

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
