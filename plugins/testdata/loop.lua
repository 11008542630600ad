component "a" { command = "x" }
while true do end
