-- GET /api/{uid}/tasks: one user's 50 tasks, rotating across every seeded user.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local requests = {}
for i, user in ipairs(common.users) do
  requests[i] = wrk.format("GET", common.tasks_path(user), common.headers(user))
end
local n = 0

function request()
  n = n % #requests + 1
  return requests[n]
end
