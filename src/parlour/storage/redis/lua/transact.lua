-- Apply several writes and merges to one namespace only if every expectation holds, all in one
-- atomic step (a booking claims each 5-minute unit it occupies, writes its record and adds
-- itself to its day's index together).
-- KEYS[1] the namespace index; KEYS[2..] the items, one per operation, in order
-- ARGV[1] channel; then seven per operation: the key as the application knows it,
-- expectation ('' none, 'absent', 'equal'), expected text, write ('' none, 'set', 'delete',
-- 'merge', 'removal': set, announced only if it replaced other text), new text (for 'merge':
-- [[field, text or null], ...]), ttl in ms (0: none), change event
local operations = #KEYS - 1
local currents = {}
local texts = {}
local silent = {}
-- Every expectation first: a step whose expectation fails says 0, whatever its merges hold.
for i = 1, operations do
  local base = 1 + (i - 1) * 7
  local expectation, write = ARGV[base + 2], ARGV[base + 4]
  if expectation ~= '' or write == 'merge' or write == 'removal' then
    local current = redis.call('GET', KEYS[i + 1])
    if expectation == 'absent' and current then
      return 0
    end
    if expectation == 'equal' and current ~= ARGV[base + 3] then
      return 0
    end
    currents[i] = current
    silent[i] = write == 'removal' and (not current or current == ARGV[base + 5])
  end
end
for i = 1, operations do
  local base = 1 + (i - 1) * 7
  if ARGV[base + 4] == 'merge' then
    local text, problem = merged(currents[i], ARGV[base + 5])
    if not text then
      return redis.error_reply(problem)
    end
    texts[i] = text
  end
end
local now = now_ms()
for i = 1, operations do
  local base = 1 + (i - 1) * 7
  local member, write, ttl = ARGV[base + 1], ARGV[base + 4], tonumber(ARGV[base + 6])
  if write == 'set' or write == 'merge' or write == 'removal' then
    local text = texts[i] or ARGV[base + 5]
    if ttl > 0 then
      redis.call('SET', KEYS[i + 1], text, 'PX', ttl)
      redis.call('ZADD', KEYS[1], string.format('%.0f', now + ttl), member)
    else
      redis.call('SET', KEYS[i + 1], text)
      redis.call('ZADD', KEYS[1], '+inf', member)
    end
    if not silent[i] then
      redis.call('PUBLISH', ARGV[1], ARGV[base + 7])
    end
  elseif write == 'delete' then
    if redis.call('DEL', KEYS[i + 1]) == 1 then
      redis.call('PUBLISH', ARGV[1], ARGV[base + 7])
    end
    redis.call('ZREM', KEYS[1], member)
  end
end
return 1
