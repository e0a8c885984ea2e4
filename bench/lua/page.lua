-- GET /api/{uid}/tasks?<query>: one page of a list, the query from the data file's fourth field
-- (bench/v2.py writes it: the page workloads' filters, sort and limit, and for page_deep the
-- cursor of a page deep in the list). Every request asks for the same page.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local requests = {}
for i, user in ipairs(common.users) do
  assert(user.extra ~= "", "no query for " .. user.uid .. " in BENCH_DATA")
  requests[i] = wrk.format("GET", common.tasks_path(user) .. "?" .. user.extra, common.headers(user))
end
local n = 0

function request()
  n = n % #requests + 1
  return requests[n]
end
