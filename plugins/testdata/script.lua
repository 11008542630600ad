component "api" {
  command = "x",
  memory_policy = function(s)
    if s.rss > s.limit then return "restart" end
    return nil
  end,
}

on("health", function(ev)
  while true do end
end)

on("crash", function(ev)
  local x = ev.component
  error("cannot handle " .. x)
end)

on("ready", function(ev)
  return { name = ev.component, n = ev.n * 2, ok = true, tags = ev.tags, deep = ev.deep }
end)

on("exit", function(ev)
  return function() end
end)
