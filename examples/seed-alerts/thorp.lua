-- The seed deployment with its two alert rules, from settings.alerts alone:
-- "alert if more than 10 restarts per hour" and "alert on failures".
--
-- "api" leaks memory (like the Node.js RPC service thorp was born from) and
-- is recycled at 150 MB behind thorp's balancer; its health check fails
-- while it is answering slowly. Alerts are POSTed to "alerts", a local
-- webhook receiver (thorp simulate http prints every POST it gets): follow
-- them with `thorp logs alerts -f`.

settings {
  http = "127.0.0.1:9620",
  logs = { dir = "logs" },
  alerts = {
    webhook = "http://127.0.0.1:9721/alerts",
    on = { "restarts", "health", "errored", "memory" },
    restarts_per_hour = 10,      -- the seed: "more than 10 restarts per hour"
  },
}

component "alerts" {
  command = { thorp.self, "simulate", "http", "--port", "9721" },
}

component "api" {
  command = { thorp.self, "simulate", "leak", "--rate", "20MB/s", "--port-env", "PORT" },
  instances = 2,
  proxy = { listen = "tcp://127.0.0.1:9720", mode = "http" },
  max_memory_restart = "150MB",
  health = { http = "http://127.0.0.1:9720/health", interval = "5s", failures = 3 },
  depends_on = { "alerts" },
}
