-- POST /api/{uid}/tasks: a new task for the next user in rotation (201 expected).
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local n = 0

function request()
  local user = common.next_user()
  n = n + 1
  local body = string.format('{"title":"bench task %d","description":"created by wrk"}', n)
  return wrk.format("POST", common.tasks_path(user), common.json_headers(user), body)
end
