-- The mix, across every seeded user: 70 % list, 10 % create, 10 % toggle, 5 % update (PUT),
-- 5 % delete. A delete removes a task this run created (the id and owner are read from the 201
-- body), so seeded tasks stay; while none is known yet (the first requests), it creates instead
-- and counts a fallback.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local created = {}
local first, last = 1, 0
local n = 0

local function create(user)
  n = n + 1
  local body = string.format('{"title":"mix task %d","description":"created by wrk"}', n)
  return wrk.format("POST", common.tasks_path(user), common.json_headers(user), body)
end

function request()
  local user = common.next_user()
  local roll = math.random(100)
  if roll <= 70 then
    return wrk.format("GET", common.tasks_path(user), common.headers(user))
  elseif roll <= 80 then
    return create(user)
  elseif roll <= 90 then
    local path = common.task_path(user, common.random_id(user)) .. "/complete"
    return wrk.format("PATCH", path, common.headers(user))
  elseif roll <= 95 then
    n = n + 1
    local body = string.format(
      '{"title":"mix update %d","description":"updated by wrk","completed":%s}',
      n, n % 2 == 0 and "true" or "false")
    local path = common.task_path(user, common.random_id(user))
    return wrk.format("PUT", path, common.json_headers(user), body)
  end
  if first > last then
    fallbacks = fallbacks + 1
    return create(user)
  end
  local victim = created[first]
  created[first] = nil
  first = first + 1
  local owner = common.users[victim.index]
  return wrk.format("DELETE", common.task_path(owner, victim.id), common.headers(owner))
end

function response(status, headers, body)
  common.count(status)
  if status == 201 and body then
    local id = body:match('"id"%s*:%s*(%d+)')
    local uid = body:match('"user_id"%s*:%s*"([^"]+)"')
    local index = uid and common.index_of[uid]
    if id and index then
      last = last + 1
      created[last] = { id = id, index = index }
    end
  end
end
