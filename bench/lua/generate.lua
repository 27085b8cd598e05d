-- POST /image with a fresh prompt per request; the second script argument is a bearer token
-- ("-" for none). Statuses are counted (a few hundred responses: cheap).

local n = 0
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  if args[1] and args[1] ~= "-" then
    headers["Authorization"] = "Bearer " .. args[1]
  end
  seed_random()
end

function request()
  n = n + 1
  local body = string.format(
    '{"prompt":"bench generation %d-%d: a lighthouse at dusk, oil painting",' ..
    '"tags":["bench","gen-%d"]}', tid or 0, n, n % 8)
  return wrk.format("POST", "/image", headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
