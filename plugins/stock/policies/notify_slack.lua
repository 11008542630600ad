-- thorp.policies.notify_slack: post every alert to a Slack incoming webhook,
-- { "text": "thorp: restarts alert for api: … (restarts=11)" }, the text
-- settings.alerts sends in format "slack".
--
--   require("thorp.policies.notify_slack"){
--     webhook = thorp.env("SLACK_URL"),                -- hooks.slack.com in settings.plugins.allow_hosts
--     prefix = "prod: ",                                -- default "thorp: "
--   }
local function notify_slack(opts)
  if type(opts) ~= "table" then
    error('notify_slack takes a table: notify_slack{ webhook = thorp.env("SLACK_URL") }', 2)
  end
  if type(opts.webhook) ~= "string" or opts.webhook == "" then
    error("notify_slack: webhook must be the Slack webhook URL, got " .. tostring(opts.webhook), 2)
  end
  local webhook, prefix, timeout = opts.webhook, opts.prefix or "thorp: ", opts.timeout or "10s"

  -- Slack reads &, < and > as markup.
  local function escape(s)
    return (string.gsub(s, "[&<>]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;" }))
  end

  on("alert", function(ev)
    local text = prefix .. (ev.alert or "") .. " alert"
    if ev.component and ev.component ~= "" then
      text = text .. " for " .. ev.component
      if (ev.instance or 0) > 0 then
        text = text .. " (instance " .. ev.instance .. ")"
      end
    end
    text = text .. ": " .. (ev.message or "")
    local names = {}
    for k in pairs(ev.fields or {}) do
      names[#names + 1] = k
    end
    if #names > 0 then
      table.sort(names)
      for i, k in ipairs(names) do
        names[i] = k .. "=" .. ev.fields[k]
      end
      text = text .. " (" .. table.concat(names, ", ") .. ")"
    end
    local res = thorp.http{ method = "POST", url = webhook, json = { text = escape(text) }, timeout = timeout }
    if res.status < 200 or res.status > 299 then
      error(string.format("notify_slack: the webhook answered %d", res.status))
    end
  end)
end

return notify_slack
