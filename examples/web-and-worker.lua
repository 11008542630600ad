-- An HTTP API and a worker that needs it. The worker starts once "api" is
-- running and, on shutdown, has fully exited before "api" gets its SIGTERM.
settings { http = "127.0.0.1:3011" }

component "api" {
  command = { thorp.self, "simulate", "http", "--port", "3111" },
  kill_timeout = "10s",
}

component "worker" {
  command = { thorp.self, "simulate", "chatty", "--lines", "0", "--rate", "2" },
  depends_on = { "api" },
  restart_delay = "2s",
}
