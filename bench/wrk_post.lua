-- wrk -s bench/wrk_post.lua URL -- BODY.json [DELAY_MS]
-- POSTs BODY.json on every request; with DELAY_MS, each connection waits that long
-- between requests, so CONNECTIONS * 1000 / DELAY_MS is the offered rate.
local body_file, delay_ms
function init(args)
  body_file = args[1]
  delay_ms = tonumber(args[2] or "0")
  local f = io.open(body_file, "rb")
  wrk.body = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end
function delay()
  return delay_ms
end
