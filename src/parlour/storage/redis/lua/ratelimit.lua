-- Decide one request against the sliding windows of all its keys, and record it if admitted:
-- one atomic step, so several instances can never admit more than the limit between them.
-- KEYS: one sorted set of admitted hits (score: time in ms) per identity, all in one hash slot
-- ARGV[1] limit, ARGV[2] window in ms, ARGV[3] member naming this hit, ARGV[4] '1' to record,
-- ARGV[5] the time in ms for tests, or '' for the server's clock (never the callers' clocks)
-- Returns {admitted 1/0, remaining, retry-after ms, reset ms}
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local now
if ARGV[5] == '' then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
else
  now = tonumber(ARGV[5])
end
local cutoff = now - window
local counts, oldest, wait = {}, {}, 0
for i, key in ipairs(KEYS) do
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] and tonumber(first[2]) <= cutoff then
    -- only when the oldest hit has left: most decisions fall inside a live window
    redis.call('ZREMRANGEBYSCORE', key, '-inf', cutoff)
    first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  end
  counts[i] = redis.call('ZCARD', key)
  oldest[i] = tonumber(first[2] or now)
  if counts[i] >= limit then
    -- full until the hit `limit` places from the newest leaves the window
    local blocking = redis.call('ZRANGE', key, counts[i] - limit, counts[i] - limit, 'WITHSCORES')
    wait = math.max(wait, tonumber(blocking[2]) - cutoff)
  end
end
if wait > 0 then
  return {0, 0, wait, wait}
end
local remaining = limit
for i, key in ipairs(KEYS) do
  if ARGV[4] == '1' then
    redis.call('ZADD', key, now, ARGV[3])
    redis.call('PEXPIRE', key, window)
    counts[i] = counts[i] + 1
  end
  remaining = math.min(remaining, limit - counts[i])
end
-- the tightest key regains a place when its oldest hit leaves the window
local reset = 0
for i in ipairs(KEYS) do
  if counts[i] > 0 and limit - counts[i] == remaining then
    reset = math.max(reset, oldest[i] - cutoff)
  end
end
return {1, remaining, 0, reset}
