-- A custom health check in Lua: healthy while the process answers its
-- /health with a JSON body whose rss_bytes is under a soft limit, so the
-- check fails (and, after 3 failures in a row, restarts it with reason
-- "health") before the hard memory limit is reached.

settings { http = "127.0.0.1:9640", logs = { dir = "logs" } }

local soft_limit = 80 * 1024 * 1024

component "api" {
  command = { thorp.self, "simulate", "leak", "--rate", "5MB/s", "--port", "9741" },
  max_memory_restart = "200MB",
  health = function(check)
    -- check.component, check.instance, check.pid, check.port
    local res = thorp.http{ url = "http://127.0.0.1:9741/health", timeout = "1s" }
    if res.status ~= 200 then
      return false
    end
    local body = thorp.json.decode(res.body)
    return body.rss_bytes < soft_limit
  end,
}
