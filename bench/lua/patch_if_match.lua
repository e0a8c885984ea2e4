-- PATCH /api/{uid}/tasks/{id} with If-Match: a JSON Merge Patch of the task's priority, sent with
-- the version the task holds now, so every request must succeed (a 412 is counted as an error).
--
-- The data file holds one user, the tasks to change and, in its fourth field, each one's version
-- when the run starts (same order; bench/v2.py reads them from the database before each run).
-- The tasks are changed in turn, each several times a run: the version moves with every answer,
-- read from its ETag ("7") with the task's id from the body. A task whose PATCH is still in
-- flight is skipped, so two requests never race for one version.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local user = common.users[1]
local ids = user.ids
local version = {}
local n = 0
for v in user.extra:gmatch("%d+") do
  n = n + 1
  version[ids[n]] = v
end
assert(n == #ids and n > 0, "BENCH_DATA needs one version for each task id")

local levels = { "none", "low", "medium", "high" }
local busy = {}
local turn = 0
local sent = 0

function request()
  local id
  for _ = 1, #ids do
    turn = turn % #ids + 1
    id = ids[turn]
    if not busy[id] then break end
  end
  busy[id] = true
  sent = sent + 1
  local headers = {
    ["Authorization"] = user.auth,
    ["Content-Type"] = "application/merge-patch+json",
    ["If-Match"] = '"' .. version[id] .. '"',
  }
  local body = '{"priority":"' .. levels[sent % #levels + 1] .. '"}'
  return wrk.format("PATCH", common.task_path(user, id), headers, body)
end

local function etag_version(headers)
  for name, value in pairs(headers) do
    if name:lower() == "etag" then
      return value:match('^"(%d+)"$')
    end
  end
end

function response(status, headers, body)
  common.count(status)
  if status == 200 and body then
    local id = body:match('"id"%s*:%s*(%d+)')
    local v = etag_version(headers)
    if id and v and version[id] then
      version[id] = v
      busy[id] = nil
    end
  end
end
