-- Alerts to a local webhook receiver, three ways: a settings.alerts rule
-- (the component errored), thorp.alert from a hook (each crash, with
-- fields), and the Slack message shape. The receiver is a component too,
-- so this runs anywhere: `thorp logs receiver -f` shows what arrived.

settings {
  http = "127.0.0.1:9650",
  logs = { dir = "logs" },
  alerts = {
    webhook = "http://127.0.0.1:9751/hooks/slack",
    format = "slack",            -- {"text": "…"}, what a Slack incoming webhook takes
    on = { "errored" },
  },
}

component "receiver" {
  command = { thorp.self, "simulate", "http", "--port", "9751" },
}

component "flaky" {
  command = { thorp.self, "simulate", "crash", "--after", "1s", "--code", "3" },
  restart_delay = "1s",
  max_restarts = 3,              -- errored after 3 short runs: the "errored" rule alerts
  depends_on = { "receiver" },
}

on("crash", function(ev)
  thorp.alert(ev.component .. " crashed", { component = ev.component, code = ev.code, pid = ev.pid })
end)
