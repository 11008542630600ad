#!/usr/bin/env thorp
-- Uses every declaration thorp.lua has.
settings {
  http = "127.0.0.1:3001",
  logs = { dir = "logs", retain_days = 30, compress = true },
}
settings { logs = { max_size = "10MB" }, token = "t" }

component "api" {
  command = { "node", "server.js" },
  env = { NODE_ENV = "production", UNSET = nil },
  max_memory_restart = "150MB",
  depends_on = {},
  memory_policy = function(s)
    if s.rss > 100 then return "restart" end
  end,
}

local function ready() return true end

component "worker_1" {
  command = "sleep 100",
  ready = ready,
  health = { interval = "5s", check = ready, failures = 3 },
}

on("restart", function(ev)
  thorp.log("warn", "restarted " .. ev.component)
end)
