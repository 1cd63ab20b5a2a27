-- The hot path: buyer limit, availability, seats and deadline, checked and applied
-- together. KEYS: zones buyers deadlines records seats meta.
-- ARGV: booking buyer expires_ms limit items.
local z, b, d, o, s, m = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local booking, buyer, expires, limit = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
if redis.call('EXISTS', m) == 0 then
  return {7}
end
-- A call retried after a lost reply: the hold is already there.
if redis.call('HEXISTS', o, booking) == 1 then
  return {0}
end
local list = items(ARGV[5])
local total = 0
for _, it in ipairs(list) do
  total = total + it.qty
end
local owned = tonumber(redis.call('HGET', b, buyer) or '0')
if owned + total > limit then
  return {2, owned, limit}
end
-- Which zones sell by seat is the show's, not the caller's, to say.
local seated = redis.call('HGET', m, 'seated') or ''
for _, it in ipairs(list) do
  if not counts(z, it.zone) then
    return {3}
  end
  local by_seat = string.find(seated, ',' .. it.zone .. ',', 1, true) ~= nil
  if by_seat and #it.seats == 0 then
    return {12}
  elseif not by_seat and #it.seats > 0 then
    return {13}
  end
end
local need = per_zone(list)
for zone, n in pairs(need) do
  local c, h, sold = counts(z, zone)
  if n > c - h - sold then
    return {1, c - h - sold}
  end
end
for _, it in ipairs(list) do
  for _, seat in ipairs(it.seats) do
    local st = redis.call('GETRANGE', s, seat, seat)
    if st == 'B' then
      return {6, seat}
    elseif st ~= 'F' then
      return {5, seat}
    end
  end
end
for zone, n in pairs(need) do
  redis.call('HINCRBY', z, zone .. ':h', n)
end
set_seats(s, m, list, 'H')
redis.call('HINCRBY', b, buyer, total)
redis.call('ZADD', d, expires, booking)
redis.call('HSET', o, booking, 'H|' .. buyer .. '|' .. expires .. '|' .. ARGV[5])
redis.call('HINCRBY', m, 'ops', 1)
return {0}
