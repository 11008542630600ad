// Package simulate holds thorp's built-in workloads, the programs behind
// `thorp simulate`: leak (memory growth at a set rate), crash, http, chatty
// and hang. They let every example and end-to-end test run anywhere without
// Node.js or any other runtime, and they behave the way a well-written
// service should, so policies can be tried against them.
//
// Concurrency model: each workload function (Leak, HTTP, Crash, Chatty, Hang)
// runs in the caller's goroutine until its context is cancelled or the
// workload ends, and owns every goroutine it starts: they have all returned
// when the function returns. The cmd/thorp command cancels the context on
// SIGTERM or SIGINT, so every workload but hang exits cleanly (code 0) on
// those signals.
//
// The HTTP server shared by leak and http (Server) shuts down without losing
// a request: it stops new handshakes, accepts what the kernel already queued,
// answers every connection it accepted, and only then returns. See
// Server.Shutdown for the exact sequence.
//
// Workloads read the systemd protocols from the environment: LISTEN_FDS (a
// listening socket on fd 3), NOTIFY_SOCKET (READY=1 once serving) and
// WATCHDOG_USEC (WATCHDOG=1 pings), unless their options say Plain: then
// they are an app that knows nothing of its supervisor and binds its own
// port (`thorp simulate http --port-env PORT`), the kind thorp's balancer
// (a component's proxy) is for. The package is Linux-only, like thorp.
package simulate
