-- Write one item, index it and announce it, as one atomic step.
-- KEYS[1] the item, KEYS[2] the namespace index (a sorted set: key -> expiry in ms, or +inf)
-- ARGV[1] value, ARGV[2] ttl in ms (0: none), ARGV[3] '' or 'NX' or 'XX',
-- ARGV[4] the key as the application knows it, ARGV[5] channel, ARGV[6] event
local ttl = tonumber(ARGV[2])
local command = {'SET', KEYS[1], ARGV[1]}
if ttl > 0 then
  command[#command + 1] = 'PX'
  command[#command + 1] = ARGV[2]
end
if ARGV[3] ~= '' then
  command[#command + 1] = ARGV[3]
end
if not redis.call(unpack(command)) then
  return 0
end
-- The server's clock, never the caller's: instances with skewed clocks agree on expiry.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local score = '+inf'
if ttl > 0 then
  score = string.format('%.0f', now + ttl)
end
redis.call('ZADD', KEYS[2], score, ARGV[4])
-- Bounded housekeeping: forget a few index entries whose items have already expired.
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. string.format('%.0f', now), 'LIMIT', 0, 8)
if #stale > 0 then
  redis.call('ZREM', KEYS[2], unpack(stale))
end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
