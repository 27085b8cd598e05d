-- GET a random path from the file named by the first script argument.
-- Statuses are not counted here (a response() hook makes wrk parse every body); wrk counts
-- every status >= 400 as a "status" error.

function init(args)
  load_paths(args[1])
  seed_random()
end

function request()
  return wrk.format("GET", random_path())
end
