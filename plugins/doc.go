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
//
// # Concurrency model
//
// An LState is not safe for concurrent use, so exactly one goroutine touches it
// at a time. Evaluate runs the file on the caller's goroutine; when it succeeds
// it hands the state to a Script, which starts one owner goroutine for it. From
// then on every Function.Call is a message to that goroutine: the caller sends
// the work and waits for the answer, bounded by a timeout that the owner also
// installs on the state with SetContext, so a busy loop in Lua ends instead of
// wedging the owner.
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
