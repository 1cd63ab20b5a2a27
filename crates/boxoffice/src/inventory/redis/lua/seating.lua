-- Gives a show a seat map: refused while a zone it touches has tickets held or sold.
-- KEYS: zones seats meta. ARGV: n touched zones, then m (zone, sellable) pairs, then
-- the initial seat states.
local z, s, m = KEYS[1], KEYS[2], KEYS[3]
local n = tonumber(ARGV[1])
for i = 2, n + 1 do
  local c, h, sold = counts(z, ARGV[i])
  if c and h + sold > 0 then
    return {10, h + sold}
  end
end
local pairs_at = n + 2
local k = tonumber(ARGV[pairs_at])
local seated = ','
for i = 0, k - 1 do
  local zone, cap = ARGV[pairs_at + 1 + 2 * i], ARGV[pairs_at + 2 + 2 * i]
  redis.call('HSET', z, zone .. ':c', cap, zone .. ':h', 0, zone .. ':s', 0)
  seated = seated .. zone .. ','
end
redis.call('HSET', m, 'seated', seated)
redis.call('SET', s, ARGV[pairs_at + 1 + 2 * k])
redis.call('HINCRBY', m, 'ver', 1)
redis.call('HINCRBY', m, 'ops', 1)
return {0}
