-- A service leaking 5 MB/s. The Lua policy raises an alert once the leak
-- will hit the limit within ten minutes, and restarts it at the limit.
-- Without memory_policy, max_memory_restart alone would do the restart.
settings { http = "127.0.0.1:3012" }

component "leaky" {
  command = { thorp.self, "simulate", "leak", "--rate", "5MB/s" },
  max_memory_restart = "200MB",
  memory_interval = "1s",
  memory_samples = 2,
  restart_delay = "1s",
  memory_policy = function(s)
    if s.memory > s.limit then return "restart" end
    if s.growth_per_hour > 0 and (s.limit - s.memory) / s.growth_per_hour < 1/6 then
      return "alert"
    end
    return nil
  end,
}
