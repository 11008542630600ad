-- A plugin file: plugins/restart_notice.lua, loaded with its options. It
-- counts restarts per component and reports them every few seconds with
-- thorp.log, and raises an alert when one component restarts too often.

settings { http = "127.0.0.1:9660", logs = { dir = "logs" } }

plugin "restart_notice" {
  file = "plugins/restart_notice.lua",
  every = "5s",
  max = 3,
}

component "flaky" {
  command = { thorp.self, "simulate", "crash", "--after", "2s" },
  restart_delay = "500ms",
  min_uptime = "1s",
}
