// Package plugins is thorp's Lua runtime: it evaluates thorp.lua in a sandboxed
// gopher-lua state and keeps the functions the file defined so the supervisor
// can call them later (memory policies, ready and health checks, on() hooks).
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
// then on every Script.Call is a message to that goroutine: the caller sends the
// work and waits for the answer, bounded by a timeout that the owner also
// installs on the state with SetContext, so a busy loop in Lua ends instead of
// wedging the owner. Script.Close stops the owner, waits for it and closes the
// state.
package plugins
