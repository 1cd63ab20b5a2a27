-- wrk script: POSTs a reserve body to the URL's path, so wrk measures the same request as
-- `boxoffice loadtest`. Used by scripts/bench as an independent cross-check.
--
--   wrk -t2 -c64 -d10s -s scripts/reserve.lua http://127.0.0.1:8080/api/v1/bookings/reserve \
--       -- <token> <show_id> <zone_id> [quantity]
--
-- Arguments after `--` win over the environment: WRK_TOKEN, WRK_SHOW, WRK_ZONE,
-- WRK_QUANTITY (default 1). WRK_TOKENS_FILE names a file of access tokens, one a line,
-- used round robin (one buyer's per-user limit is soon reached otherwise). Without a
-- token no Authorization header is sent (enough for examples/ceiling).
-- The last line printed is `wrk-json: {...}` with throughput and latency for scripts.

local tokens_file = os.getenv("WRK_TOKENS_FILE")
local placeholder = "00000000-0000-4000-8000-000000000000"

local function body_for(show, zone, quantity)
  return string.format('{"show_id":"%s","zone_id":"%s","quantity":%d}', show, zone, quantity)
end

local function read_tokens(path)
  local list = {}
  for line in io.lines(path) do
    local t = line:gsub("%s+", "")
    if t ~= "" then
      list[#list + 1] = t
    end
  end
  if #list == 0 then
    error("no tokens in " .. path)
  end
  return list
end

local requests = {}
local next_request = 0

function init(args)
  local token = args[1] or os.getenv("WRK_TOKEN")
  local show = args[2] or os.getenv("WRK_SHOW") or placeholder
  local zone = args[3] or os.getenv("WRK_ZONE") or placeholder
  local quantity = tonumber(args[4] or os.getenv("WRK_QUANTITY") or "1")
  local body = body_for(show, zone, quantity)
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
  if token and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
  end
  if tokens_file then
    -- Pre-built requests, one per buyer; each thread starts at a different buyer.
    for i, t in ipairs(read_tokens(tokens_file)) do
      local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. t }
      requests[i] = wrk.format("POST", nil, headers, body)
    end
    next_request = math.random(#requests) - 1
  end
end

-- Only with a token file: without `request` wrk sends one static request, fastest.
if tokens_file then
  function request()
    next_request = next_request % #requests + 1
    return requests[next_request]
  end
end

function done(summary, latency, _)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'wrk-json: {"requests":%d,"duration_s":%.3f,"requests_per_s":%.2f,' ..
      '"p50_ms":%.2f,"p99_ms":%.2f,"max_ms":%.2f,"status_errors":%d,' ..
      '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d}\n',
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.status, e.connect, e.read, e.write, e.timeout))
end
