-- An ordered stack: db, then cache, then api. Each starts only once what it
-- depends on is ready (not merely started), and they stop in reverse order.
-- Readiness is proven three ways: db by a TCP connection to its port, cache
-- by an HTTP GET, api by a log line.

settings { http = "127.0.0.1:9630", logs = { dir = "logs" } }

component "db" {
  -- a slow starter: it listens 2 s after it was started
  command = { thorp.self, "simulate", "http", "--port", "9731", "--startup-delay", "2s" },
  ready = "tcp://127.0.0.1:9731",
  listen_timeout = "10s",
  kill_timeout = "5s",
}

component "cache" {
  command = { thorp.self, "simulate", "http", "--port", "9732", "--startup-delay", "1s" },
  ready = "http://127.0.0.1:9732/health",
  depends_on = { "db" },
}

component "api" {
  command = { thorp.self, "simulate", "http", "--port", "9733" },
  ready = "log:^listening on ",
  depends_on = { "db", "cache" },
}
