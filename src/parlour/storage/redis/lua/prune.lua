-- Settle up to ARGV[2] index entries whose scores have passed (see reclaim.lua); returns how
-- many it looked at, so the caller repeats until fewer than asked come back.
-- KEYS[1] the namespace index; ARGV[1] the prefix of the namespace's item keys, ARGV[2] a batch
return reclaim(KEYS[1], ARGV[1], now_ms(), tonumber(ARGV[2]))
