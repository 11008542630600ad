-- Cluster mode: several copies of an app that knows nothing of thorp behind
-- thorp's balancer. The app only listens on the port in $PORT (here the
-- built-in http workload with --port-env; for Node.js,
-- `server.listen(process.env.PORT)`); thorp gives each process a free
-- loopback port, binds the proxy address itself and keeps it bound across
-- every restart and reload, sends each connection (tcp) or request (http)
-- to the ready process with the fewest open connections, and replaces the
-- processes one at a time on `thorp reload pool` or a memory restart:
-- the new one first, then the old one leaves rotation, finishes its open
-- connections and only then gets its stop signal.
-- `thorp status` shows each process's port, rotation and connections;
-- `thorp drill pool` proves no request fails. See docs/config.md, proxy.
settings { http = "127.0.0.1:3016" }

component "pool" {
  command = { thorp.self, "simulate", "http", "--port-env", "PORT" },
  instances = 3,                   -- or "max": one per CPU, counted when thorp starts
  proxy = {
    listen = "tcp://127.0.0.1:3130", -- what clients connect to
    mode = "http",                 -- "tcp" (default): bytes copied both ways, any protocol
    port_env = "PORT",             -- the variable each process reads its port from
    drain_timeout = "30s",         -- how long an old process may finish its connections
    queue_timeout = "10s",         -- how long a client waits while no process is ready
  },
  rolling = 1,                     -- processes replaced at a time: capacity stays >= 2
  kill_timeout = "5s",
}
-- The short form is enough for a tcp proxy with these defaults:
--   proxy = "tcp://127.0.0.1:3130",

-- The alternative for an app that can serve an inherited socket (fd 3,
-- LISTEN_FDS) and say READY=1: thorp holds the socket, no balancer in the
-- way, and an overlap restart keeps both processes serving it meanwhile.
component "held" {
  command = { thorp.self, "simulate", "http" },
  sockets = { http = "tcp://127.0.0.1:3131" },
  ready = "notify",
  restart_mode = "overlap",
  kill_timeout = "5s",
}
