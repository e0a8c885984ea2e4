-- Shared by every workload script: users and tokens, status counting, the JSON result line.
--
-- BENCH_DATA names a file with one user a line: "user_id<TAB>token<TAB>id,id,...", and for some
-- workloads "<TAB>extra": what else they need (page.lua: the query; patch_if_match.lua: versions).
-- wrk's own summary only says "Non-2xx", so response() counts every status by code and done()
-- prints one line, "BENCH_RESULT {json}", that bench/wrk.py reads.
local M = {}

M.users = {}
M.index_of = {}
for line in io.lines(os.getenv("BENCH_DATA")) do
  local uid, token, ids, extra = line:match("^([^\t]+)\t([^\t]+)\t?([^\t]*)\t?(.*)$")
  if uid then
    local user = { uid = uid, auth = "Bearer " .. token, ids = {}, extra = extra }
    for id in ids:gmatch("%d+") do
      user.ids[#user.ids + 1] = id
    end
    M.users[#M.users + 1] = user
    M.index_of[uid] = #M.users
  end
end
assert(#M.users > 0, "no users in BENCH_DATA")

-- Per-thread state (each wrk thread has its own Lua state; these globals are read in done()).
statuses = {}
fallbacks = 0

local next_user = 0

function M.next_user()
  next_user = next_user % #M.users + 1
  return M.users[next_user]
end

function M.random_id(user)
  return user.ids[math.random(#user.ids)]
end

function M.tasks_path(user)
  return "/api/" .. user.uid .. "/tasks"
end

function M.task_path(user, id)
  return "/api/" .. user.uid .. "/tasks/" .. id
end

function M.headers(user)
  return { ["Authorization"] = user.auth }
end

function M.json_headers(user)
  return { ["Authorization"] = user.auth, ["Content-Type"] = "application/json" }
end

function M.count(status)
  statuses[status] = (statuses[status] or 0) + 1
end

-- The functions wrk looks for; a workload script may replace request/response.
local threads = {}

function setup(thread)
  thread:set("thread_no", #threads + 1)
  threads[#threads + 1] = thread
end

function init(args)
  math.randomseed(1000 + (thread_no or 1))
  for _ = 1, 10 do math.random() end
end

function response(status, headers, body)
  M.count(status)
end

function done(summary, latency, requests)
  local counts = {}
  local fallback_total = 0
  for _, thread in ipairs(threads) do
    local thread_statuses = thread:get("statuses")
    if thread_statuses then
      for code, n in pairs(thread_statuses) do
        counts[code] = (counts[code] or 0) + n
      end
    end
    fallback_total = fallback_total + (thread:get("fallbacks") or 0)
  end
  local parts = {}
  for code, n in pairs(counts) do
    parts[#parts + 1] = string.format('"%d":%d', code, n)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"duration_us":%d,"requests":%d,"bytes":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,' ..
    '"fallbacks":%d,"statuses":{%s}}\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.max, latency.mean, fallback_total, table.concat(parts, ",")))
end

return M
