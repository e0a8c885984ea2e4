-- GET /api/{uid}/tasks/{id}: one of the user's own tasks, users in rotation, ids at random.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

function request()
  local user = common.next_user()
  return wrk.format("GET", common.task_path(user, common.random_id(user)), common.headers(user))
end
