-- thorp.lua: the seed scenario, runnable out of the box with `make run`.
--
-- "thorp-system" is a service that leaks memory (about 2.5 MB/s, so it reaches
-- its 150 MB limit in about a minute, like the Node.js RPC service thorp was
-- born from). thorp recycles it gracefully at the limit, every time.
-- It serves HTTP on a socket thorp holds, and is recycled with an overlap
-- restart, so its clients never see a refused or failed request
-- (`thorp drill thorp-system` proves it). "cache" is a steady HTTP service
-- it depends on, started first and stopped last. Both are thorp's own
-- built-in workloads (`thorp simulate`), so this file runs anywhere the
-- binary does.

settings {
  http = "127.0.0.1:3001",        -- health, metrics, dashboard
  logs = { dir = "logs", max_size = "10MB", rotate = "daily", retain_days = 30, compress = true },
}

component "cache" {
  command = { thorp.self, "simulate", "http", "--port", "3101" },
  min_uptime = "5s",
}

component "thorp-system" {
  command = { thorp.self, "simulate", "leak", "--rate", "2.5MB/s" },
  sockets = { http = "tcp://127.0.0.1:3100" }, -- held by thorp: no refused connection
  ready = "notify",                -- the service says READY=1 once it serves
  restart_mode = "overlap",        -- memory restarts: new process first, then the old one stops
  max_memory_restart = "150MB",    -- process-tree RSS, sampled every second
  restart_delay = "4s",
  kill_timeout = "5s",
  min_uptime = "30s",
  max_restarts = 10,
  depends_on = { "cache" },
}
