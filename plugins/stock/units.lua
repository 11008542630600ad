-- thorp.units: durations and sizes written as in thorp.lua, for plugins
-- and the stock policies.
--
--   local units = require "thorp.units"
--   units.duration("1h30m")  --> 5400 (seconds; "500ms" → 0.5; a number is seconds)
--   units.size("300MB")      --> 300000000 (bytes; as max_memory_restart reads it)
--   units.clock("02:30")     --> 150 (minutes after midnight)
--
-- Each returns nil and a message for a value it cannot read.
local M = {}

local seconds = { ns = 1e-9, us = 1e-6, ["µs"] = 1e-6, ms = 1e-3, s = 1, m = 60, h = 3600 }

function M.duration(v)
  if type(v) == "number" then
    if v < 0 then return nil, "a duration must not be negative" end
    return v
  end
  if type(v) ~= "string" then
    return nil, string.format("%s is not a duration (use \"90s\", \"10m\", \"1h30m\" or a number of seconds)", type(v))
  end
  local total, rest = 0, v
  while rest ~= "" do
    local num, unit, tail = string.match(rest, "^(%d+%.?%d*)(%a+)(.*)$")
    local mult = unit and seconds[unit]
    if not mult then
      return nil, string.format("%q is not a duration (use \"90s\", \"10m\", \"1h30m\" or a number of seconds)", v)
    end
    total, rest = total + tonumber(num) * mult, tail
  end
  if v == "" then
    return nil, "\"\" is not a duration"
  end
  return total
end

local bytes = {
  [""] = 1, b = 1,
  k = 2^10, m = 2^20, g = 2^30, t = 2^40,
  ki = 2^10, mi = 2^20, gi = 2^30, ti = 2^40,
  kib = 2^10, mib = 2^20, gib = 2^30, tib = 2^40,
  kb = 1e3, mb = 1e6, gb = 1e9, tb = 1e12,
}

function M.size(v)
  if type(v) == "number" then
    if v < 0 then return nil, "a size must not be negative" end
    return v
  end
  if type(v) ~= "string" then
    return nil, string.format("%s is not a size (use \"300MB\", \"1.5GiB\" or a number of bytes)", type(v))
  end
  local num, unit = string.match(v, "^%s*(%d+%.?%d*)%s*(%a*)%s*$")
  local mult = unit and bytes[string.lower(unit)]
  if not mult then
    return nil, string.format("%q is not a size (use \"300MB\", \"1.5GiB\" or a number of bytes)", v)
  end
  return math.floor(tonumber(num) * mult + 0.5)
end

function M.clock(v)
  local h, m = string.match(tostring(v), "^(%d%d?):(%d%d)$")
  h, m = tonumber(h), tonumber(m)
  if not h or h > 23 or m > 59 then
    return nil, string.format("%q is not a time of day (use \"HH:MM\", 00:00 to 23:59)", tostring(v))
  end
  return h * 60 + m
end

return M
