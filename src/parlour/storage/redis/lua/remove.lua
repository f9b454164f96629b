-- Delete one item and its index entry; announce it if it was there.
-- KEYS[1] the item, KEYS[2] the namespace index; ARGV[1] key, ARGV[2] channel, ARGV[3] event
local removed = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if removed == 1 then
  redis.call('PUBLISH', ARGV[2], ARGV[3])
end
return removed
