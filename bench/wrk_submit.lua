-- wrk script for B1: posts the unlock form with a ~200 KB JPEG receipt.
-- Every request needs its own signed submission token and its own account; the tokens are
-- made ahead by b1_submit.py (BENCH_TOKENS, one per line) and split between wrk's threads.
local boundary = "----supportbench7MA4YWxkTrZu0gW"
local csrf = "benchcsrf0123456789abcdefghijklmnopqrstuvwxyz"
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local function read_all(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  return data
end

function init(args)
  local all = {}
  for line in io.lines(os.getenv("BENCH_TOKENS")) do table.insert(all, line) end
  local n_threads = tonumber(os.getenv("BENCH_THREADS"))
  tokens = {}
  for i = id + 1, #all, n_threads do table.insert(tokens, all[i]) end
  jpeg = read_all(os.getenv("BENCH_JPEG"))
  counter = 0
  ok, other, exhausted = 0, 0, 0
  wrk.headers["Cookie"] = "support_csrf=" .. csrf
  wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
end

local function field(name, value)
  return "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"" .. name ..
         "\"\r\n\r\n" .. value .. "\r\n"
end

function request()
  counter = counter + 1
  local token = tokens[counter]
  if token == nil then exhausted = exhausted + 1; token = "exhausted" end
  -- Unique account and phone per request: thread id, then a counter.
  local n = id * 10000000 + counter
  local body = field("csrf_token", csrf) .. field("submission_token", token) ..
    field("account_id", string.format("7%09d", n)) ..
    field("country", "IN") ..
    field("phone", string.format("+9198%08d", n)) ..
    field("email", "bench" .. n .. "@example.com") ..
    field("model", "Redmi Note 10 Pro") ..
    field("firmware", "21.3.17") ..
    field("reason", "I develop a custom kernel for this phone and need to flash my test builds.") ..
    "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"receipt\"; " ..
    "filename=\"receipt.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n" .. jpeg .. "\r\n" ..
    "--" .. boundary .. "--\r\n"
  return wrk.format("POST", nil, nil, body)
end

function response(status, headers, body)
  if status == 303 then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local total_ok, total_other, total_exhausted = 0, 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_other = total_other + thread:get("other")
    total_exhausted = total_exhausted + thread:get("exhausted")
  end
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "ok": %d, "other": %d, "exhausted": %d, ' ..
    '"duration_us": %d, "p50_ms": %.2f, "p90_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f, ' ..
    '"errors_connect": %d, "errors_read": %d, "errors_write": %d, "errors_timeout": %d}\n',
    summary.requests, total_ok, total_other, total_exhausted, summary.duration,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
end
