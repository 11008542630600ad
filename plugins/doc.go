// Package plugins is thorp's Lua runtime: it evaluates thorp.lua in a sandboxed
// gopher-lua state and returns what the file declared as raw values
// (config.Raw: maps, lists, scalars and functions, with the lines they came
// from), nothing more; engine/config decodes and validates them. The
// functions (memory policies, ready and health checks, on() hooks) are
// *Function values, config.Func implementations bound to the Script whose
// state defined them, that the supervisor calls later.
//
// # Sandbox
//
// A state opens only the base, table, string, math and package libraries, with
// every way of reading code from disk removed (dofile, loadfile, load,
// loadstring, module, and package's file loader), plus an os table holding only
// time, date, clock and getenv. There is no io and no debug library, and the
// state never gets a SetMx. print goes to Options.Log, never to thorp's stdout.
// The ways to run another file are include(pattern), thorp.lua's drop-in
// files (include.go); plugin "name" { file = … }, a plugin file run with
// its options (plugin.go); and require(name), which reads only name.lua in
// settings.plugins.path and the stock library embedded in the binary
// (require.go, stock.go). Files are read and compiled once, by the first
// evaluation, and run in the same state; further states run the same
// compiled chunks.
//
// # Concurrency model
//
// An LState is not safe for concurrent use, so exactly one goroutine touches it
// at a time. Evaluate compiles the file once and runs it on the caller's
// goroutine; when it succeeds it hands the state to a Script, which starts one
// owner goroutine for it, the state of ready, health and memory_policy
// functions. When the file declared hooks, the Script has a second state for
// them, the same compiled chunk evaluated again (quietly) by its own owner, so
// a hook never holds up a probe. A Function finds itself in either state by
// its definition site (its prototype and which closure of it). From then on
// every Function.Call is a message to the owner of its state: the caller sends
// the work and waits for the answer, bounded by a timeout that the owner also
// installs on the state with SetContext, so a busy loop in Lua ends instead of
// wedging the owner.
//
// # Timers and the running thorp
//
// thorp.every and thorp.after arm timers only in the hooks' state: the
// first evaluation (thorp check's, which becomes the probes' state) and
// the probes' fresh states hand back handles that do nothing. The hooks'
// state's owner goroutine keeps its timers (timers.go) and fires them
// itself, one call at a time between the hooks' calls, with one
// time.Timer reset to the next due; no other goroutine exists for them,
// so Script.Close, which waits for the owner, also waits for every timer.
// They fire once HookRunner.Set installs the Script's config and stop
// when Set installs another (a reload) or HookRunner.Run ends.
// thorp.status, restart, signal, start, stop and alert go through
// Options.Host (host.go), which cmd/thorp implements over the supervisor.
//
// # Limits
//
// gopher-lua checks its context only between VM instructions, and its Go
// builtins have no allocation hook. So each call (and the evaluation) runs
// with a watchdog that samples Go's heap and cancels the call once it grew
// past settings.plugins.max_memory; the builtins that build big results in
// one Go call (string.rep, string.format, table.concat, string.gsub) check
// the result's size first, and the pattern functions refuse patterns whose
// worst-case backtracking on the given string exceeds a step budget. A call
// that overruns its time or memory limit disables its Function (ErrOverrun)
// and the owner replaces the state by a fresh evaluation; so does a state
// whose globals keep more than the ceiling. Lua errors are always
// "thorp.lua:LINE: message", with __tostring applied and cut at 1 KiB.
//
// # Calls that wait
//
// thorp.http and thorp.exec (world.go, luahttp.go, luaexec.go) reach
// outside thorp, only to what Script.Grant allows (the decoded
// settings.plugins.allow_hosts and allow_exec), and only once thorp.lua
// has loaded. They block the owner goroutine of their state while they
// wait, each bounded by its own timeout. A call's time limit is a
// callDeadline (deadline.go), not a context timeout: the builtin holds it
// off for the length of its wait, and the memory watchdog skips the wait,
// so only Lua's own work counts against settings.plugins.timeout and
// max_memory. Their goroutines have owners that wait for them: the
// deadline's timer is stopped by the caller; os/exec's pipe copiers by
// cmd.Wait, on the owner goroutine; net/http's connection goroutines end
// with the request, whose connection is never kept.
//
// # Lifetime
//
// A Script stays open while any of its functions can still be called: a
// reload does not close the previous one, because a process started under
// the previous config keeps its health check and ready probe, which call
// that config's functions. Once nothing references the Script or its
// functions, a runtime cleanup closes its state. Script.Close closes it at
// once (shutdown, one-shot commands); a call into a closed Script returns
// ErrClosed and never touches the state.
package plugins
