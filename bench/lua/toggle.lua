-- PATCH /api/{uid}/tasks/{id}/complete: flip one of the user's own tasks, no body.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

function request()
  local user = common.next_user()
  local path = common.task_path(user, common.random_id(user)) .. "/complete"
  return wrk.format("PATCH", path, common.headers(user))
end
