-- Shared by write.lua and prune.lua (prepended when they are loaded).
-- Index scores are a lower bound of each item's expiry: reading or touching an item slides its
-- TTL with a native GETEX or PEXPIRE and leaves the index alone. So an entry whose score has
-- passed is looked at before it goes: dropped if its item is gone, re-scored if it lives on.
local function now_ms()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

local function reclaim(index, item_prefix, now, limit)
  local due = redis.call('ZRANGEBYSCORE', index, '-inf', '(' .. string.format('%.0f', now), 'LIMIT', 0, limit)
  for _, member in ipairs(due) do
    local ttl = redis.call('PTTL', item_prefix .. member)
    if ttl == -2 then
      redis.call('ZREM', index, member)
    elseif ttl == -1 then
      redis.call('ZADD', index, '+inf', member)
    else
      redis.call('ZADD', index, string.format('%.0f', now + ttl), member)
    end
  end
  return #due
end
