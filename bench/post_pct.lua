-- wrk -s bench/post_pct.lua URL -- BODY.json, with SHELFCAST_POST_LUA=../shared/bench/post.lua:
-- that script's load, unchanged (it is run as is), plus a done() that prints the latency
-- distribution at a grid of percentiles, so that bench/http can combine the distributions of
-- several short runs (slices) into one p99.
dofile(assert(os.getenv("SHELFCAST_POST_LUA"), "set SHELFCAST_POST_LUA"))
local grid = {50, 75, 90, 95, 97, 98, 98.5, 99, 99.25, 99.5, 99.75, 99.9, 99.95, 99.99}
function done(summary, latency, requests)
  for _, p in ipairs(grid) do
    io.write(string.format("percentile %g %d\n", p, latency:percentile(p)))
  end
  io.write(string.format("percentile 100 %d\n", latency.max))
end
