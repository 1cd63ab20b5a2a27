-- A show's counters in one read: {zones (flat field/value), most any buyer has,
-- pending holds, seat version, mutations}. KEYS: zones buyers deadlines meta.
if redis.call('EXISTS', KEYS[4]) == 0 then
  return false
end
local most = 0
local owned = redis.call('HVALS', KEYS[2])
for i = 1, #owned do
  local n = tonumber(owned[i])
  if n > most then
    most = n
  end
end
local meta = redis.call('HMGET', KEYS[4], 'ver', 'ops')
return {redis.call('HGETALL', KEYS[1]), most, redis.call('ZCARD', KEYS[3]),
  tonumber(meta[1] or '0'), tonumber(meta[2] or '0')}
