-- thorp.policies.notify_slack: post every alert to a Slack incoming webhook
-- as { text = "…" }.
--
--   require("thorp.policies.notify_slack"){
--     webhook = thorp.env("SLACK_URL"),                -- hooks.slack.com in settings.plugins.allow_hosts
--     prefix = "[prod] ",                               -- optional, before every message
--   }
local function notify_slack(opts)
  if type(opts) ~= "table" then
    error('notify_slack takes a table: notify_slack{ webhook = thorp.env("SLACK_URL") }', 2)
  end
  if type(opts.webhook) ~= "string" or opts.webhook == "" then
    error("notify_slack: webhook must be the Slack webhook URL, got " .. tostring(opts.webhook), 2)
  end
  local webhook, prefix, timeout = opts.webhook, opts.prefix or "", opts.timeout or "10s"

  on("alert", function(ev)
    local text = ev.message or ""
    if ev.component and ev.component ~= "" then
      text = ev.component .. ": " .. text
    end
    local res = thorp.http{ method = "POST", url = webhook, json = { text = prefix .. text }, timeout = timeout }
    if res.status < 200 or res.status > 299 then
      error(string.format("notify_slack: the webhook answered %d", res.status))
    end
  end)
end

return notify_slack
