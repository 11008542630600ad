# thorp under Nomad, with the same checks as the Kubernetes probes.
# thorp is installed at /usr/local/bin/thorp on the clients (the Dockerfile's
# binary, or `make build`); run from this directory:
#   nomad job run thorp.nomad.hcl
job "thorp-web" {
  type = "service"

  group "web" {
    count = 1

    network {
      port "thorp" {
        static = 9615
      }
      port "http" {
        static = 8080
      }
    }

    # Drain: Nomad deregisters the services, waits this long for clients
    # to stop connecting, then sends kill_signal.
    shutdown_delay = "5s"

    service {
      name     = "thorp"
      port     = "thorp"
      provider = "nomad"

      check {
        name     = "alive"
        type     = "http"
        path     = "/health"
        interval = "10s"
        timeout  = "2s"
      }
    }

    service {
      name     = "thorp-web"
      port     = "http"
      provider = "nomad"

      check {
        name     = "ready"
        type     = "http"
        port     = "thorp"
        path     = "/health/web"
        interval = "5s"
        timeout  = "2s"
      }
    }

    task "thorp" {
      # raw_exec runs thorp as the client's user (root), so thorp can make
      # a cgroup per component; "exec" works too, inside Nomad's isolation.
      driver = "raw_exec"

      config {
        command = "/usr/local/bin/thorp"
        args    = ["run", "-c", "local/thorp.lua"]
      }

      # settings.logs.stdout: `nomad alloc logs` shows every component.
      env {
        THORP_LOGS__STDOUT = "true"
      }

      template {
        data        = file("thorp.lua")
        destination = "local/thorp.lua"
      }

      # SIGTERM: stop in reverse dependency order. kill_timeout covers
      # the components' kill_timeouts, level after level (10s here);
      # clients cap it at their max_kill_timeout (30s unless raised).
      kill_signal  = "SIGTERM"
      kill_timeout = "30s"

      resources {
        cpu    = 200
        memory = 512
      }
    }
  }
}
