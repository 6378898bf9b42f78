-- wrk -s bench/wrk-percentiles.lua: wrk's --latency block stops at p99; this prints the tail from
-- the same histogram, in microseconds, one "bench-percentile <p> <us>" line each, plus the
-- longest request. Only done() is defined, so wrk keeps its fast path (no Lua per request).
done = function(summary, latency, requests)
  for _, p in ipairs({ 50, 90, 99, 99.9, 99.99 }) do
    io.write(string.format("bench-percentile %g %d\n", p, latency:percentile(p)))
  end
  io.write(string.format("bench-latency-max %d\n", latency.max))
end
