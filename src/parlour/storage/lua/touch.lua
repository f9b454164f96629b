-- Give a live item a new TTL and, when ARGV[3] is '1', return its value: a session read and its
-- sliding expiry cost one round trip. Returns nil (read) or 0 (touch) if there is no such item.
-- KEYS[1] the item, KEYS[2] the namespace index; ARGV[1] ttl in ms, ARGV[2] key, ARGV[3] '1' or '0'
local value = 1
if ARGV[3] == '1' then
  value = redis.call('GETEX', KEYS[1], 'PX', ARGV[1])
  if not value then
    return false
  end
elseif redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 0 then
  return 0
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZADD', KEYS[2], 'XX', string.format('%.0f', now + tonumber(ARGV[1])), ARGV[2])
return value
