-- thorp.policies.notify_webhook: POST every alert, as JSON, to a URL, in
-- the shape settings.alerts posts (format "json"), without "host".
--
--   require("thorp.policies.notify_webhook"){
--     url = "https://alerts.example.com/thorp",        -- its host in settings.plugins.allow_hosts
--     headers = { Authorization = "Bearer " .. thorp.env("ALERT_TOKEN") },
--     timeout = "5s",
--   }
--
-- Written as a plugin is: check the options while thorp.lua loads (an
-- error(msg, 2) names the caller's line), then declare hooks with on().
local function notify_webhook(opts)
  if type(opts) ~= "table" then
    error('notify_webhook takes a table: notify_webhook{ url = "https://…" }', 2)
  end
  if type(opts.url) ~= "string" or opts.url == "" then
    error("notify_webhook: url must be the webhook's URL, got " .. tostring(opts.url), 2)
  end
  if opts.headers ~= nil and type(opts.headers) ~= "table" then
    error("notify_webhook: headers must be a table of name = value", 2)
  end
  local url, headers, timeout = opts.url, opts.headers, opts.timeout or "10s"

  on("alert", function(ev)
    local secs = math.floor(ev.time)
    local body = {
      kind = ev.alert,
      component = ev.component,
      instance = ev.instance,
      message = ev.message,
      fields = ev.fields or {},
      time = os.date("!%Y-%m-%dT%H:%M:%S", secs) .. string.format(".%03dZ", math.floor((ev.time - secs) * 1000 + 0.5) % 1000),
    }
    local res = thorp.http{ method = "POST", url = url, headers = headers, json = body, timeout = timeout }
    if res.status < 200 or res.status > 299 then
      error(string.format("notify_webhook: %s answered %d", url, res.status))
    end
  end)
end

return notify_webhook
