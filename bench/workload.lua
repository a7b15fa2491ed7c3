-- wrk script of the realistic workload: every request is a URL drawn at random from a file of
-- URL paths (one per line, as bench/workload_urls.py writes them).
--   wrk -t2 -c32 -d20s --latency -s bench/workload.lua http://127.0.0.1:PORT -- FILE [SEED]
-- Each thread draws from its own generator, seeded with SEED and its number, so a run's sequence
-- of URLs per thread is the same every time. At the end it prints the mean response size
-- (headers included) and the count of non-2xx responses.

local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

local urls = {}

function init(args)
  local file = args[1] or error("usage: wrk ... -s workload.lua URL -- FILE [SEED]")
  for line in io.lines(file) do
    if #line > 0 then
      urls[#urls + 1] = line
    end
  end
  if #urls == 0 then
    error("no URLs in " .. file)
  end
  math.randomseed(tonumber(args[2] or "1") * 1000 + id)
end

function request()
  return wrk.format("GET", urls[math.random(#urls)])
end

function done(summary, latency, requests)
  local n = math.max(summary.requests, 1)
  io.write(string.format("mean_response_bytes %.0f\n", summary.bytes / n))
  io.write(string.format("requests %d\n", summary.requests))
  io.write(string.format("non_2xx %d\n", summary.errors.status))
end
