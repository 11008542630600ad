settings { http = "x" }

setting { http = "y" }
component "never" { command = "x" }
