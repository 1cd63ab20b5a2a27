-- Adds a zone or changes its capacity, never below what is held or sold.
-- KEYS: zones meta. ARGV: zone capacity.
local c, h, s = counts(KEYS[1], ARGV[1])
local cap = tonumber(ARGV[2])
if c then
  if cap < h + s then
    return {9, cap, h + s}
  end
  redis.call('HSET', KEYS[1], ARGV[1] .. ':c', cap)
else
  redis.call('HSET', KEYS[1], ARGV[1] .. ':c', cap, ARGV[1] .. ':h', 0, ARGV[1] .. ':s', 0)
end
redis.call('HINCRBY', KEYS[2], 'ops', 1)
return {0}
