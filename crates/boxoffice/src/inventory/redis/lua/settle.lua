-- Ends a hold or a sale, whole: release (held -> free), confirm (held -> sold) or
-- return (sold -> free, a refund). The booking's record says what it took, so a
-- repeated call finds nothing to do. KEYS: zones buyers deadlines records seats meta.
-- ARGV: booking mode zone buyer quantity (the last three for a sale with no record).
local z, b, d, o, s, m = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local booking, mode = ARGV[1], ARGV[2]
if redis.call('EXISTS', m) == 0 then
  return {7}
end
local r = redis.call('HGET', o, booking)
local state, buyer, expires, enc
if r then
  state, buyer, expires, enc = record(r)
elseif mode == 'return' then
  -- Sold before the last rebuild: a plain quantity, as the booking names it.
  state, buyer, expires, enc = 'S', ARGV[4], '0', ARGV[3] .. ':' .. ARGV[5] .. ':'
else
  return {8}
end
local want = (mode == 'return') and 'S' or 'H'
if mode == 'return' then
  -- The booking names its buyer; a record written by a rebuild does not.
  buyer = ARGV[4]
end
if state ~= want then
  return {8}
end
local list = items(enc)
local need = per_zone(list)
local total = 0
for zone, n in pairs(need) do
  local c, h, sold = counts(z, zone)
  if not c then
    return {3}
  end
  if ((want == 'S') and sold or h) < n then
    return {4}
  end
  total = total + n
end
if not seats_are(s, list, want) then
  return {4}
end
if mode ~= 'confirm' and tonumber(redis.call('HGET', b, buyer) or '0') < total then
  return {4}
end
for zone, n in pairs(need) do
  if mode == 'confirm' then
    redis.call('HINCRBY', z, zone .. ':h', -n)
    redis.call('HINCRBY', z, zone .. ':s', n)
  elseif mode == 'release' then
    redis.call('HINCRBY', z, zone .. ':h', -n)
  else
    redis.call('HINCRBY', z, zone .. ':s', -n)
  end
end
if mode == 'confirm' then
  set_seats(s, m, list, 'S')
  redis.call('HSET', o, booking, 'S|' .. buyer .. '|' .. expires .. '|' .. enc)
else
  set_seats(s, m, list, 'F')
  if redis.call('HINCRBY', b, buyer, -total) <= 0 then
    redis.call('HDEL', b, buyer)
  end
  redis.call('HDEL', o, booking)
end
redis.call('ZREM', d, booking)
redis.call('HINCRBY', m, 'ops', 1)
return {0}
