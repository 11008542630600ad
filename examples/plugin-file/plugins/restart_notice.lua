-- restart_notice: a plugin. Options: every (a duration), max (restarts
-- before an alert). It shows the three things a plugin does: hooks,
-- timers and alerts.
local opts = ...
local counts = {}
local alerted = {}

on("restart", function(ev)
  counts[ev.component] = (counts[ev.component] or 0) + 1
  if counts[ev.component] > opts.max and not alerted[ev.component] then
    alerted[ev.component] = true
    thorp.alert(ev.component .. " restarted more than " .. opts.max .. " times",
      { component = ev.component, restarts = counts[ev.component] })
  end
end)

thorp.every(opts.every, function()
  for name, n in pairs(counts) do
    thorp.log("info", name .. ": " .. n .. " restarts so far")
  end
end)
