-- Adds what one node allowed since its last report to a bucket every node shares,
-- and returns the bucket as it is now (its theoretical arrival time, ms, as a
-- string). KEYS: the bucket. ARGV: now (ms, the service clock), interval (ms a
-- request takes to come back), count (0: only read it).
local now, t, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then
  tat = now
end
if n > 0 then
  tat = tat + n * t
  redis.call('SET', KEYS[1], tostring(tat), 'PX', math.max(1, math.ceil(tat - now)))
end
return tostring(tat)
