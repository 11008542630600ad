-- The stock policies, embedded in thorp (require "thorp.policies.NAME"):
--   restart_budget     "flaky" crash-loops; past 5 restarts in 10 minutes it is
--                      alerted on and stopped instead of restarted forever
--   predictive_memory  "api" leaks 2 MB/s; it is restarted when its growth
--                      predicts the 150 MB limit within 20 s (near 110 MB), at a
--                      moment of low CPU
--   quiet_hours        "batch" may only be restarted for memory inside a
--                      window (00:00-23:59 here, so that it shows; a night
--                      window is "02:00-05:00"), and always past a 300 MB ceiling
--   notify_webhook     every alert, posted by a plugin-style hook to "receiver"
-- `thorp logs receiver -f` shows the alerts; `thorp status` the policies' work.

settings { http = "127.0.0.1:9670", logs = { dir = "logs" } }

local restart_budget    = require "thorp.policies.restart_budget"
local predictive_memory = require "thorp.policies.predictive_memory"
local quiet_hours       = require "thorp.policies.quiet_hours"
local notify_webhook    = require "thorp.policies.notify_webhook"

component "receiver" {
  command = { thorp.self, "simulate", "http", "--port", "9771" },
}

component "flaky" {
  command = { thorp.self, "simulate", "crash", "--after", "1s" },
  restart_delay = "1s",
  min_uptime = "0s",
  depends_on = { "receiver" },
}
restart_budget{ component = "flaky", max = 5, window = "10m" }

component "api" {
  command = { thorp.self, "simulate", "leak", "--rate", "2MB/s" },
  max_memory_restart = "150MB",
  -- simulate leaks steadily from its first second (no start-up burst), so
  -- its growth is trusted after 10 s instead of the default 3 minutes
  memory_policy = predictive_memory{ within = "20s", cpu_below = 50, warmup = "10s" },
}

component "batch" {
  command = { thorp.self, "simulate", "leak", "--rate", "2MB/s" },
  max_memory_restart = "100MB",
  memory_policy = quiet_hours{ window = "00:00-23:59", ceiling = "300MB" },
}

notify_webhook{ url = "http://127.0.0.1:9771/alerts" }
