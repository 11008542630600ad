-- thorp.policies.predictive_memory: a memory_policy that restarts ahead of
-- max_memory_restart when the growth estimate predicts the crossing within
-- `within`, at a moment of low CPU if it can.
--
--   local predictive_memory = require "thorp.policies.predictive_memory"
--   component "api" {
--     command = "node server.js",
--     max_memory_restart = "500MB",
--     memory_policy = predictive_memory{ within = "10m", cpu_below = 20 },
--   }
--
-- For each sample: over the limit already, "restart". Growing
-- (growth_per_hour > 0) so that the limit is reached within `within`:
-- "restart" when the instance's CPU (sample.cpu, % of one core) is below
-- `cpu_below`, or regardless once the crossing is due within a quarter of
-- `within`; otherwise wait for a quieter sample. Growth is not trusted
-- before the instance has run for `warmup` (default 3m: the growth is a
-- fit over the last two minutes, and a process filling its heap at start
-- reads as gigabytes an hour until its start has left that window, which
-- would restart it soon after every start). Without a limit it does
-- nothing.
local units = require "thorp.units"

local function predictive_memory(opts)
  opts = opts or {}
  if type(opts) ~= "table" then
    error('predictive_memory takes a table: predictive_memory{ within = "10m", cpu_below = 20 }', 2)
  end
  local within, err = units.duration(opts.within or "10m")
  if not within or within <= 0 then
    error("predictive_memory: within: " .. (err or "must be more than 0"), 2)
  end
  local warmup, werr = units.duration(opts.warmup or "3m")
  if not warmup or warmup < 0 then
    error("predictive_memory: warmup: " .. (werr or "must not be negative"), 2)
  end
  local cpu_below = opts.cpu_below or 20
  if type(cpu_below) ~= "number" or cpu_below < 0 then
    error("predictive_memory: cpu_below must be a CPU percentage (of one core), got " .. tostring(opts.cpu_below), 2)
  end

  return function(sample)
    local limit, memory = sample.limit or 0, sample.memory or 0
    if limit <= 0 then
      return nil
    end
    if memory >= limit then
      return "restart"
    end
    local growth = sample.growth_per_hour or 0
    if growth <= 0 or (sample.uptime or 0) < warmup then
      return nil
    end
    local eta = (limit - memory) / growth * 3600
    if eta > within then
      return nil
    end
    if eta <= within / 4 or (sample.cpu or 0) < cpu_below then
      return "restart"
    end
    return nil
  end
end

return predictive_memory
