-- Three copies of one component. Each gets THORP_INSTANCE = 0, 1, 2 and
-- listens on its own port; `thorp status --json` lists them under "instances".
settings { http = "127.0.0.1:3015" }

component "pool" {
  command = "exec " .. thorp.self .. " simulate http --port $((3120 + THORP_INSTANCE))",
  instances = 3,
}
