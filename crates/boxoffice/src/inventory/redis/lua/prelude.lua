-- Shared by every inventory script. Keys of one show share the hash tag {show:ID}, so
-- Redis Cluster keeps a show on one shard and a script touches one slot.
-- Replies: {0} done; {1, available} sold out; {2, owned, limit} limit reached;
-- {3} unknown zone; {4} inconsistent; {5, seat} seat taken; {6, seat} seat blocked;
-- {7} show unknown to this Redis; {8} nothing held under this booking;
-- {9, capacity, committed} below committed; {10, committed} in use;
-- {11} changed since read; {12} seats required; {13} not seated.

-- "zone:qty:seat,seat;zone:qty:" -> {{zone=, qty=, seats={...}}, ...}
local function items(enc)
  local out = {}
  for item in string.gmatch(enc, '[^;]+') do
    local zone, qty, seats = string.match(item, '^([^:]+):(%d+):(.*)$')
    local list = {}
    for seat in string.gmatch(seats, '%d+') do
      list[#list + 1] = tonumber(seat)
    end
    out[#out + 1] = {zone = zone, qty = tonumber(qty), seats = list}
  end
  return out
end

-- A hold's record: "STATE|buyer|expires|items", STATE H (held) or S (sold).
local function record(r)
  return string.match(r, '^(%a)|([^|]+)|(%-?%d+)|(.*)$')
end

-- Tickets per zone of a list of items.
local function per_zone(list)
  local n = {}
  for _, it in ipairs(list) do
    n[it.zone] = (n[it.zone] or 0) + it.qty
  end
  return n
end

local function counts(z, zone)
  local v = redis.call('HMGET', z, zone .. ':c', zone .. ':h', zone .. ':s')
  if not v[1] then
    return nil
  end
  return tonumber(v[1]), tonumber(v[2]), tonumber(v[3])
end

-- Whether every seat of the items is in state `want` (one byte per seat).
local function seats_are(s, list, want)
  for _, it in ipairs(list) do
    for _, seat in ipairs(it.seats) do
      if redis.call('GETRANGE', s, seat, seat) ~= want then
        return false
      end
    end
  end
  return true
end

local function set_seats(s, m, list, to)
  local moved = false
  for _, it in ipairs(list) do
    for _, seat in ipairs(it.seats) do
      redis.call('SETRANGE', s, seat, to)
      moved = true
    end
  end
  if moved then
    redis.call('HINCRBY', m, 'ver', 1)
  end
end
