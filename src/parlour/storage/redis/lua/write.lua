-- Write one item, index it and announce it, as one atomic step.
-- KEYS[1] the item, KEYS[2] the namespace index (a sorted set: key -> expiry in ms, or +inf)
-- ARGV[1] value, ARGV[2] ttl in ms (0: none), ARGV[3] '' or 'NX' or 'XX' or 'CAS',
-- ARGV[4] the key as the application knows it, ARGV[5] channel, ARGV[6] event,
-- ARGV[7] for CAS: the value that must be stored now for the write to happen,
-- ARGV[8] the prefix of the namespace's item keys
local ttl = tonumber(ARGV[2])
local mode = ARGV[3]
if mode == 'CAS' then
  if redis.call('GET', KEYS[1]) ~= ARGV[7] then
    return 0
  end
  mode = ''
end
local command = {'SET', KEYS[1], ARGV[1]}
if ttl > 0 then
  command[#command + 1] = 'PX'
  command[#command + 1] = ARGV[2]
end
if mode ~= '' then
  command[#command + 1] = mode
end
if not redis.call(unpack(command)) then
  return 0
end
-- The server's clock, never the caller's: instances with skewed clocks agree on expiry.
local now = now_ms()
local score = '+inf'
if ttl > 0 then
  score = string.format('%.0f', now + ttl)
end
redis.call('ZADD', KEYS[2], score, ARGV[4])
reclaim(KEYS[2], ARGV[8], now, 8)  -- bounded housekeeping on every write
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
