-- wrk script for B8: redeems, each of a different permission from its own device.
-- BENCH_REDEEMS: one "<path> <json body>" a line, split between wrk's threads; a thread
-- stops once every redeem of its share has been answered (b8_permission_api.py then
-- stops wrk). A connection that asks for more
-- meanwhile sends its thread's last redeem again (the same device: a retry, answered with
-- the same grant), so "ok" may exceed the lines by up to one per connection.
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local all = {}
  for line in io.lines(os.getenv("BENCH_REDEEMS")) do table.insert(all, line) end
  local n_threads = tonumber(os.getenv("BENCH_THREADS"))
  items = {}
  for i = id + 1, #all, n_threads do table.insert(items, all[i]) end
  target = #items
  -- wrk calls the first thread's request() once before sending anything (to check it):
  -- that call takes a copy of the first line, so every line is sent.
  if id == 0 then table.insert(items, 1, items[1]) end
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
  counter, answered, ok, other, last_other, repeated = 0, 0, 0, 0, 0, 0
end

function request()
  counter = counter + 1
  local item = items[counter]
  if item == nil then item = items[#items]; repeated = repeated + 1 end
  local path, body = item:match("^(%S+) (.*)$")
  return wrk.format("POST", path, nil, body)
end

function response(status, headers, body)
  answered = answered + 1
  if status >= 200 and status < 300 then ok = ok + 1 else other = other + 1; last_other = status end
  if answered == target then
    local marker = io.open(os.getenv("BENCH_DONE") .. id, "w")
    marker:write("done\n")
    marker:close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local total_ok, total_other, total_repeated, seen = 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_other = total_other + thread:get("other")
    total_repeated = total_repeated + thread:get("repeated")
    if thread:get("last_other") ~= 0 then seen = thread:get("last_other") end
  end
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "ok": %d, "other": %d, "other_status": %d, "repeated": %d, ' ..
    '"duration_us": %d, "p50_ms": %.2f, "p90_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f, ' ..
    '"errors_connect": %d, "errors_read": %d, "errors_write": %d, "errors_timeout": %d}\n',
    summary.requests, total_ok, total_other, seen, total_repeated, summary.duration,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
end
