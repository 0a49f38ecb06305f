-- wrk script for bench/lib/loadrun.py: one request template, read from the environment.
--   LOAD_METHOD   GET unless set
--   LOAD_PATH     path and query, e.g. /db?id={rand:1:1000000}
--   LOAD_BODY     request body (Content-Type: application/json is added unless a header sets one)
--   LOAD_HEADERS  "Name: value|Other: value"
-- Placeholders, drawn for every request: {rand:A:B} an integer in [A, B];
-- {date:YYYY-MM-DD:N} that date plus 0..N days; {pick:a,b,c} one of the comma-separated words.
-- At the end one line "LOADJSON {...}" carries the counts and latency percentiles.

local method = os.getenv("LOAD_METHOD") or "GET"
local path = os.getenv("LOAD_PATH") or "/"
local body = os.getenv("LOAD_BODY")
if body == "" then body = nil end
local headers = {}
for item in string.gmatch(os.getenv("LOAD_HEADERS") or "", "[^|]+") do
  local name, value = string.match(item, "^%s*([^:]+):%s*(.-)%s*$")
  if name then headers[name] = value end
end
if body and not headers["Content-Type"] then headers["Content-Type"] = "application/json" end

local function fill(text)
  text = string.gsub(text, "{rand:(%-?%d+):(%-?%d+)}", function(low, high)
    return tostring(math.random(tonumber(low), tonumber(high)))
  end)
  text = string.gsub(text, "{pick:([^}]+)}", function(list)
    local words = {}
    for word in string.gmatch(list, "[^,]+") do words[#words + 1] = word end
    return words[math.random(#words)]
  end)
  return (string.gsub(text, "{date:(%d+)%-(%d+)%-(%d+):(%d+)}", function(y, m, d, span)
    local noon = os.time({year = tonumber(y), month = tonumber(m), day = tonumber(d), hour = 12})
    return os.date("%Y-%m-%d", noon + math.random(0, tonumber(span)) * 86400)
  end))
end

local templated = string.find(path, "{", 1, true) or (body and string.find(body, "{rand", 1, true))
  or (body and string.find(body, "{date", 1, true))
local fixed = nil
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("seed", threads)
end

function init(args)
  math.randomseed(os.time() * 1009 + (seed or 0) * 7919)
  if not templated then fixed = wrk.format(method, path, headers, body) end
end

function request()
  if fixed then return fixed end
  return wrk.format(method, fill(path), headers, body and fill(body) or nil)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'LOADJSON {"requests": %d, "seconds": %.3f, "rps": %.1f, "p50_ms": %.3f, "p90_ms": %.3f, ' ..
    '"p99_ms": %.3f, "max_ms": %.3f, "non2xx": %d, "socket_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.status, e.connect + e.read + e.write, e.timeout))
end
