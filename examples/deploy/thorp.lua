-- The stack every deploy example here runs (Docker, Kubernetes, Nomad,
-- systemd): "web", two processes behind thorp's balancer on :8080 with a
-- health check, and "worker", started once web runs and stopped before it.
-- Installed as /srv/thorp/thorp.lua; logs and state go under /srv/thorp.
-- In a container, THORP_LOGS__STDOUT=true (the Dockerfile's ENV) also
-- copies every line to thorp's stdout and stderr, for the log driver.

settings {
  -- Probes, Nomad's checks and Prometheus reach /health and /metrics from
  -- outside the container or host.
  http = "0.0.0.0:9615",
  logs = { dir = "logs" },
}

component "web" {
  command = { thorp.self, "simulate", "http", "--port-env", "PORT" },
  instances = 2,
  proxy = { listen = "tcp://0.0.0.0:8080", mode = "http" },
  health = { http = "http://127.0.0.1:8080/health", interval = "5s", failures = 3 },
  max_memory_restart = "200MB",
  -- web errored (its restarts used up) ends thorp with exit code 4, so the
  -- orchestrator restarts the container or service (docs/containers.md).
  critical = true,
}

component "worker" {
  command = { thorp.self, "simulate", "chatty", "--lines", "0", "--rate", "1" },
  depends_on = { "web" },
}
