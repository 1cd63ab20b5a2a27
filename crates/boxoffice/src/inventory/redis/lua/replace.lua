-- Replaces one show's state with the record's, only if nothing changed it since it
-- was read (its mutation count is still ARGV[1]): repairs drift without racing a hold.
-- KEYS: zones buyers deadlines records seats meta. ARGV: expected mutations, image
-- (JSON: zones, buyers, records as flat field/value lists; deadlines as score/member).
local z, b, d, o, s, m = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local ops = tonumber(redis.call('HGET', m, 'ops') or '-1')
if ops ~= tonumber(ARGV[1]) then
  return {11}
end
local image = cjson.decode(ARGV[2])
local ver = tonumber(redis.call('HGET', m, 'ver') or '0')
redis.call('DEL', z, b, d, o, s)
local function put(key, flat)
  for i = 1, #flat, 2 do
    redis.call('HSET', key, flat[i], flat[i + 1])
  end
end
put(z, image.zones)
put(b, image.buyers)
put(o, image.records)
for i = 1, #image.deadlines, 2 do
  redis.call('ZADD', d, image.deadlines[i], image.deadlines[i + 1])
end
if type(image.seats) == 'string' then
  redis.call('SET', s, image.seats)
end
redis.call('HSET', m, 'ver', ver + 1, 'ops', ops + 1, 'seated', image.seated)
return {0}
