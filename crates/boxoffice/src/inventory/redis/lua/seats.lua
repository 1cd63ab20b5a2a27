-- Seat states unless still at the caller's version: {version} or {version, states}.
-- KEYS: seats meta. ARGV: known version or ''.
if redis.call('EXISTS', KEYS[2]) == 0 then
  return false
end
local ver = tonumber(redis.call('HGET', KEYS[2], 'ver') or '0')
if ARGV[1] ~= '' and tonumber(ARGV[1]) == ver then
  return {ver}
end
return {ver, redis.call('GET', KEYS[1]) or ''}
