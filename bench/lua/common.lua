-- Shared by every bench scenario; bench/loadgen.py prepends it to the scenario's script.
-- Each wrk thread runs its own copy of the script; setup() and done() run in the main one.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

paths = {}
statuses = {}

-- One request path per line, read once per thread (bounded by the file's size).
function load_paths(file)
  for line in io.lines(file) do
    if #line > 0 then
      paths[#paths + 1] = line
    end
  end
  if #paths == 0 then
    error("no request paths in " .. file)
  end
end

function seed_random()
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
  for _ = 1, 10 do math.random() end
end

function random_path()
  return paths[math.random(#paths)]
end

-- The figures bench/loadgen.py reads: one line, prefixed so other output cannot confuse it.
function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    local seen = thread:get("statuses")
    if type(seen) == "table" then
      for status, n in pairs(seen) do
        counts[status] = (counts[status] or 0) + n
      end
    end
  end
  local parts = {}
  for status, n in pairs(counts) do
    parts[#parts + 1] = string.format('"%s":%d', tostring(status), n)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d},' ..
    '"statuses":{%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max,
    table.concat(parts, ",")))
end
