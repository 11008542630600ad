local function keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end
settings {
  globals = keys(_G),
  os = keys(os),
  thorp = keys(thorp),
  blocked = {
    execute = os.execute == nil,
    exit = os.exit == nil,
    io = io == nil,
    debug = debug == nil,
    dofile = dofile == nil,
    loadfile = loadfile == nil,
    load = load == nil,
    loadstring = loadstring == nil,
    loaded_os_execute = package.loaded.os.execute == nil,
    loaded_io = package.loaded.io == nil,
    file_loader = package.loaders[2] == nil,
    require_file = not pcall(require, "globals"),
    require_io = not pcall(require, "io"),
  },
}
