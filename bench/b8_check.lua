-- wrk script for B8: the permission check, for accounts picked at random from a list.
-- BENCH_PATHS: one request path a line (already mixed by b8_permission_api.py: accounts
-- with a live permission, accounts in other states, unknown accounts); BENCH_KEY: the
-- service key sent as a Bearer token (empty for the bare app, which checks none).
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  paths = {}
  for line in io.lines(os.getenv("BENCH_PATHS")) do table.insert(paths, line) end
  math.randomseed(tonumber(os.getenv("BENCH_SEED") or "8") * 1000 + id)
  local key = os.getenv("BENCH_KEY") or ""
  if key ~= "" then wrk.headers["Authorization"] = "Bearer " .. key end
  ok, other, last_other = 0, 0, 0
end

function request()
  return wrk.format("GET", paths[math.random(#paths)])
end

function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 else other = other + 1; last_other = status end
end

function done(summary, latency, requests)
  local total_ok, total_other, seen = 0, 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_other = total_other + thread:get("other")
    if thread:get("last_other") ~= 0 then seen = thread:get("last_other") end
  end
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "ok": %d, "other": %d, "other_status": %d, ' ..
    '"duration_us": %d, "p50_ms": %.2f, "p90_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f, ' ..
    '"errors_connect": %d, "errors_read": %d, "errors_write": %d, "errors_timeout": %d}\n',
    summary.requests, total_ok, total_other, seen, summary.duration,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
end
