-- thorp.lua: the seed scenario, runnable out of the box with `make run`.
--
-- "thorp-system" is a service that leaks memory (about 2.5 MB/s, so each
-- process reaches its 150 MB limit in about a minute, like the Node.js RPC
-- service thorp was born from). thorp recycles it gracefully at the limit,
-- every time. Like that service, it knows nothing of thorp: it listens on
-- the port in $PORT and sends no readiness notification. thorp runs two of
-- it behind its own balancer on 127.0.0.1:3100: each process gets a free
-- loopback port, is put in rotation once that port accepts connections, and
-- every recycle (memory, `thorp reload`, a config change) starts the
-- replacement first and drains the old process before stopping it, so
-- clients never see a refused or failed request (`thorp drill thorp-system`
-- proves it). "cache" is a steady HTTP service it depends on, started first
-- and stopped last. Both are thorp's own built-in workloads (`thorp
-- simulate`), so this file runs anywhere the binary does.
--
-- An app that can serve an inherited socket (fd 3) and send READY=1 can do
-- without the balancer: `sockets = { http = "tcp://127.0.0.1:3100" }`,
-- `ready = "notify"`, `restart_mode = "overlap"` (examples/proxy.lua).

settings {
  http = "127.0.0.1:9615",        -- health, metrics, dashboard
  logs = { dir = "logs", max_size = "10MB", rotate = "daily", retain_days = 30, compress = true },
}

component "cache" {
  command = { thorp.self, "simulate", "http", "--port", "3101" },
  min_uptime = "5s",
}

component "thorp-system" {
  command = { thorp.self, "simulate", "leak", "--rate", "2.5MB/s", "--port-env", "PORT" },
  instances = 2,                   -- two processes, each with its own $PORT
  proxy = {                        -- thorp's balancer: bound by thorp, kept across restarts
    listen = "tcp://127.0.0.1:3100",
    mode = "http",                 -- a reverse proxy: per-request routing and status codes
  },
  max_memory_restart = "150MB",    -- per process tree RSS, sampled every second
  restart_delay = "4s",
  kill_timeout = "5s",
  min_uptime = "30s",
  max_restarts = 10,
  depends_on = { "cache" },
}
