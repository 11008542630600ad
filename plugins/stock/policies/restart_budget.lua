-- thorp.policies.restart_budget: past `max` restarts of a component within
-- `window`, raise an alert once and stop it (or only alert).
--
--   local restart_budget = require "thorp.policies.restart_budget"
--   restart_budget{ component = "api", max = 10, window = "1h", action = "stop" }
--   restart_budget{ component = "all", max = 30, window = "1h", action = "alert" }
--
-- It counts the restarts thorp did not plan (reasons crash, exit, memory,
-- health, watchdog; not manual, reload, config, cron or watch) through an
-- on("restart") hook, each component on its own ("all" gives every one the
-- same budget). The restart past the budget raises thorp.alert once, stops
-- the component when action is "stop", and starts a fresh count. It returns
-- nothing: its state lives in the hooks' Lua state.
local units = require "thorp.units"

local counted = { crash = true, exit = true, memory = true, health = true, watchdog = true }

local function restart_budget(opts)
  if type(opts) ~= "table" then
    error('restart_budget takes a table: restart_budget{ component = "api", max = 10, window = "1h" }', 2)
  end
  local component = opts.component or "all"
  if type(component) ~= "string" or not string.match(component, "^[%w][%w_-]*$") then
    error(string.format('restart_budget: component must be a component name or "all", got %q', tostring(component)), 2)
  end
  local max = opts.max or 10
  if type(max) ~= "number" or max < 1 or max ~= math.floor(max) then
    error("restart_budget: max must be a whole number of restarts, 1 or more, got " .. tostring(opts.max), 2)
  end
  local window_text = opts.window or "1h"
  local window, err = units.duration(window_text)
  if not window or window <= 0 then
    error("restart_budget: window: " .. (err or "must be more than 0"), 2)
  end
  local action = opts.action or "stop"
  if action ~= "stop" and action ~= "alert" then
    error(string.format('restart_budget: action must be "stop" or "alert", got %q', tostring(action)), 2)
  end

  local times = {} -- by component: the times of its counted restarts within the window

  on("restart", function(ev)
    if not counted[ev.reason] or (component ~= "all" and ev.component ~= component) then
      return
    end
    local name, now = ev.component, ev.time or os.time()
    local kept = {}
    for _, t in ipairs(times[name] or {}) do
      if now - t < window then
        kept[#kept + 1] = t
      end
    end
    kept[#kept + 1] = now
    times[name] = kept
    if #kept <= max then
      return
    end
    times[name] = {}
    local what = action == "stop" and "; stopping it" or ""
    thorp.alert(string.format("%s restarted %d times within %s, over its budget of %d%s", name, #kept, window_text, max, what), {
      component = name, restarts = tostring(#kept), window = window_text, max = tostring(max), action = action,
    })
    if action == "stop" then
      thorp.stop(name)
    end
  end)
end

return restart_budget
