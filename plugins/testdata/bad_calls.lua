component "api" { command = "a" }
component "api" { command = "b" }
component "has space" { command = "c" }
component { command = "d" }
component "web" "oops"
component "mixed" { command = "x", env = { "A=1", B = "2" } }
on("boot", function() end)
on("exit", "not a function")
settings "x"
component "lonely"
component "sparse" { command = { [1] = "a", [3] = "c" }, logs = { [true] = 1 } }
settings { logs = { dir = "logs", 1 } }
component "ok" { command = "true" }
