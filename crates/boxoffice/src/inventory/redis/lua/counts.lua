-- A show's counters in one read: {zones (flat field/value), pending holds, mutations}.
-- KEYS: zones deadlines meta.
if redis.call('EXISTS', KEYS[3]) == 0 then
  return false
end
return {redis.call('HGETALL', KEYS[1]), redis.call('ZCARD', KEYS[2]),
  tonumber(redis.call('HGET', KEYS[3], 'ops') or '0')}
