-- A component that crashes one second after it starts. Each run is shorter
-- than min_uptime, so the restart delay doubles (1s, 2s, 4s, 8s) until
-- max_restarts short runs in a row leave it errored; thorp tries again
-- after retry_errored_after. `thorp describe crasher` shows each step.
settings { http = "127.0.0.1:3013" }

component "crasher" {
  command = { thorp.self, "simulate", "crash", "--after", "1s", "--code", "3" },
  min_uptime = "5s",
  max_restarts = 4,
  restart_delay = "1s",
  exp_backoff_max = "8s",
  retry_errored_after = "1m",
}
