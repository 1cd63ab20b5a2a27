-- One request against a bucket shared by every node (GCRA: the bucket is the
-- theoretical arrival time of the next request). KEYS: the bucket.
-- ARGV: now (ms, the service clock), interval (ms a request takes to come back), burst.
-- Returns {allowed, remaining, reset after ms, retry after ms}; times as strings,
-- since they may have fractions.
local now, t, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tau = (burst - 1) * t
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then
  tat = now
end
local allow_at = tat - tau
if now < allow_at then
  return {0, 0, tostring(tat - now), tostring(allow_at - now)}
end
local new_tat = tat + t
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.max(1, math.ceil(new_tat - now)))
return {1, math.floor((now + tau - new_tat) / t) + 1, tostring(new_tat - now), '0'}
