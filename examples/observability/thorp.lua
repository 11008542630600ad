-- A small stack to scrape with the Prometheus config, alert rules and
-- Grafana dashboard next to this file (README.md).
--
-- "web" runs two instances behind thorp's balancer with a health check
-- and a memory limit per instance; "worker" leaks slowly and is recycled
-- at its limit, so the memory panels and the restart counters move.

settings {
  http = "127.0.0.1:9615",
  logs = { dir = "logs" },
}

component "web" {
  command = { thorp.self, "simulate", "http", "--port-env", "PORT" },
  instances = 2,
  proxy = { listen = "tcp://127.0.0.1:9730", mode = "http" },
  health = { http = "http://127.0.0.1:9730/health", interval = "5s", failures = 3 },
  max_memory_restart = "200MB",
}

component "worker" {
  command = { thorp.self, "simulate", "leak", "--rate", "1MB/s" },
  max_memory_restart = "120MB",
}
