-- thorp.policies.quiet_hours: a memory_policy that defers memory restarts
-- into a daily window (local time), unless memory passes a hard ceiling;
-- optionally also a planned restart inside the window.
--
--   local quiet_hours = require "thorp.policies.quiet_hours"
--   component "api" {
--     command = "node server.js",
--     max_memory_restart = "200MB",                   -- past it: restart, but only 02:00-05:00
--     memory_policy = quiet_hours{ window = "02:00-05:00", ceiling = "300MB" },
--   }
--   -- and a planned restart of api inside the window, once at least 23h after the last:
--   quiet_hours{ window = "02:00-05:00", ceiling = "300MB", component = "api", restart_every = "23h" }
--
-- The function it returns answers "restart" for a sample over the
-- ceiling at any time, and for one over max_memory_restart (or whatever
-- the wrapped `policy` answers "restart" for) inside the window; outside
-- it, nil: the process keeps running. "alert" answers pass through.
-- With restart_every (and component), a timer checks every minute (or
-- every restart_every when shorter) and restarts the component inside the
-- window once restart_every has passed since its last planned restart, or
-- since the config was loaded.
local units = require "thorp.units"

local function quiet_hours(opts)
  if type(opts) ~= "table" then
    error('quiet_hours takes a table: quiet_hours{ window = "02:00-05:00", ceiling = "300MB" }', 2)
  end
  local from, to = string.match(tostring(opts.window), "^%s*(%d%d?:%d%d)%s*%-%s*(%d%d?:%d%d)%s*$")
  local start, stop = units.clock(from), units.clock(to)
  if not start or not stop or start == stop then
    error(string.format('quiet_hours: window must be "HH:MM-HH:MM" (local time, it may span midnight), got %q', tostring(opts.window)), 2)
  end
  local ceiling, err = units.size(opts.ceiling)
  if opts.ceiling == nil then
    err = "is required: the memory at which a restart cannot wait for the window"
  end
  if not ceiling or ceiling <= 0 then
    error("quiet_hours: ceiling " .. (err or "must be more than 0"), 2)
  end
  local policy = opts.policy
  if policy ~= nil and type(policy) ~= "function" then
    error("quiet_hours: policy must be a memory_policy function, got a " .. type(policy), 2)
  end

  local function inside(now)
    local t = os.date("*t", now)
    local m = t.hour * 60 + t.min
    if start < stop then
      return m >= start and m < stop
    end
    return m >= start or m < stop
  end

  if opts.restart_every ~= nil then
    local every, everr = units.duration(opts.restart_every)
    if not every or every <= 0 then
      error("quiet_hours: restart_every: " .. (everr or "must be more than 0"), 2)
    end
    if type(opts.component) ~= "string" or opts.component == "" then
      error("quiet_hours: restart_every needs component, the component to restart", 2)
    end
    local name, last = opts.component, os.time()
    thorp.every(math.min(60, every), function()
      local now = os.time()
      if now - last >= every and inside(now) then
        last = now
        thorp.restart(name, "quiet_hours: planned restart in " .. opts.window)
      end
    end)
  end

  return function(sample)
    local memory = sample.memory or 0
    if memory >= ceiling then
      return "restart"
    end
    local answer
    if policy then
      answer = policy(sample)
    elseif (sample.limit or 0) > 0 and memory >= sample.limit then
      answer = "restart"
    end
    if answer == "restart" and not inside(os.time()) then
      return nil
    end
    return answer
  end
end

return quiet_hours
