-- Drops one zone (ARGV: zone) or, with no ARGV, the whole show; refused while
-- tickets are held or sold there. KEYS: zones buyers deadlines records seats meta.
local z = KEYS[1]
if ARGV[1] then
  local c, h, s = counts(z, ARGV[1])
  if not c then
    return {3}
  end
  if h + s > 0 then
    return {10, h + s}
  end
  redis.call('HDEL', z, ARGV[1] .. ':c', ARGV[1] .. ':h', ARGV[1] .. ':s')
  redis.call('HINCRBY', KEYS[6], 'ops', 1)
  return {0}
end
local committed = 0
local flat = redis.call('HGETALL', z)
for i = 1, #flat, 2 do
  local suffix = string.sub(flat[i], -2)
  if suffix == ':h' or suffix == ':s' then
    committed = committed + tonumber(flat[i + 1])
  end
end
if committed > 0 then
  return {10, committed}
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
return {0}
