// Package jseval evaluates a PM2 ecosystem file written in JavaScript, or a
// JSON file with comments (JSON5), in an embedded JavaScript engine (goja)
// and returns what it exports as JSON.
//
// The script runs in a sandbox: the ECMAScript built-ins, a read-only copy
// of the importing process's environment in process.env, process.argv,
// process.cwd(), __filename/__dirname, and require of "path", "os" and
// "url" shims that compute from Host, never from the machine. It has no
// file system, network, timer or process access: any other require throws
// an error naming the module. A run is stopped after Host.Timeout, when it
// recurses past a fixed depth, and when the heap grows past Host.MaxMemory.
//
// Every call gets its own engine, so the functions here are safe for
// concurrent use.
package jseval

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/dop251/goja"
	"github.com/dop251/goja/parser"
)

// DefaultTimeout is how long a script may run when Host.Timeout is 0.
const DefaultTimeout = 2 * time.Second

// DefaultMaxMemory is how far the Go heap may grow while a script runs
// before it is stopped, when Host.MaxMemory is 0: far above what any
// ecosystem file needs.
const DefaultMaxMemory = 256 << 20

// maxCallDepth stops endless recursion before it exhausts the Go stack.
const maxCallDepth = 10000

// Host is what a script sees of the machine it is imported on.
type Host struct {
	Env      map[string]string // process.env; the script gets a copy
	Argv     []string          // process.argv
	Cwd      string            // process.cwd(), and what relative paths resolve against
	Home     string            // os.homedir()
	Hostname string            // os.hostname()
	CPUs     int               // os.cpus().length
	Timeout  time.Duration     // 0 means DefaultTimeout
	// MaxMemory bounds the heap growth of a run in bytes; 0 means
	// DefaultMaxMemory. The heap is sampled every 25ms, so a single huge
	// allocation can overshoot it.
	MaxMemory uint64
}

// CurrentHost describes the running process: its environment, working
// directory, home, host name and CPU count. It is safe for concurrent use.
func CurrentHost() Host {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			env[k] = v
		}
	}
	cwd, _ := os.Getwd()
	home, _ := os.UserHomeDir()
	hostname, _ := os.Hostname()
	return Host{Env: env, Cwd: cwd, Home: home, Hostname: hostname, CPUs: runtime.NumCPU()}
}

// Result is what a script exported, and what the operator should know.
type Result struct {
	JSON  []byte   // module.exports (or the literal) as JSON
	Notes []string // one line each, e.g. that the script read os.cpus()
}

// Module evaluates src, the text of the JavaScript file at path (CommonJS,
// or an ES module whose `import` lines and `export default` are rewritten
// to require and module.exports line for line), and returns module.exports
// as JSON. Errors name the file by its base name, with the line and column
// where the engine gives them.
func Module(src []byte, path string, h Host) (Result, error) {
	code := string(src)
	if isESM(path, code) {
		code = rewriteESM(code, fileURL(absPath(path, h.Cwd)))
	}
	// Node's CommonJS wrapper, on the first line so line numbers stay.
	const prefix = "(function (exports, require, module, __filename, __dirname) {"
	return run(prefix+code+"\n})", len(prefix), path, h, true)
}

// Literal evaluates src, the text of the file at path, as one JavaScript
// expression: JSON with comments, trailing commas, unquoted keys and single
// quotes (JSON5), and returns its value as JSON.
func Literal(src []byte, path string, h Host) (Result, error) {
	const prefix = "(function () { return ("
	return run(prefix+string(src)+"\n) })", len(prefix), path, h, false)
}

// stop is the value a run is interrupted with.
type stop string

func (s stop) Error() string { return string(s) }

// run compiles and calls the wrapper in code, whose first line carries
// prefixLen bytes before the file's own text.
func run(code string, prefixLen int, path string, h Host, module bool) (Result, error) {
	name := filepath.Base(path)
	s := newSandbox(path, h)
	prg, err := parser.ParseFile(nil, name, code, 0, parser.WithDisableSourceMaps)
	if err != nil {
		return Result{}, syntaxError(name, err, prefixLen)
	}
	compiled, err := goja.CompileAST(prg, false)
	if err != nil {
		return Result{}, syntaxError(name, err, prefixLen)
	}

	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	timer := time.AfterFunc(timeout, func() {
		s.vm.Interrupt(stop(fmt.Sprintf("did not finish within %v (an endless loop?)", timeout)))
	})
	defer timer.Stop()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the memory guard; run waits for it
		defer wg.Done()
		guardMemory(s.vm, h.MaxMemory, done)
	}()
	defer wg.Wait()
	defer close(done)

	out, err := s.call(compiled, module)
	if err != nil {
		return Result{}, runError(name, err, prefixLen)
	}
	return Result{JSON: out, Notes: s.readNotes()}, nil
}

// guardMemory interrupts vm when the heap grows more than limit bytes, until
// done.
func guardMemory(vm *goja.Runtime, limit uint64, done <-chan struct{}) {
	if limit == 0 {
		limit = DefaultMaxMemory
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > base+limit {
				vm.Interrupt(stop(fmt.Sprintf("used more than %d MiB of memory", limit>>20)))
				return
			}
		}
	}
}

// call runs the compiled wrapper and turns its result into JSON.
func (s *sandbox) call(prg *goja.Program, module bool) ([]byte, error) {
	stringify, ok := goja.AssertFunction(s.vm.Get("JSON").ToObject(s.vm).Get("stringify"))
	if !ok {
		return nil, errors.New("JSON.stringify is missing")
	}
	wrapper, err := s.vm.RunProgram(prg)
	if err != nil {
		return nil, err
	}
	fn, ok := goja.AssertFunction(wrapper)
	if !ok {
		return nil, errors.New("the file is not a script")
	}
	var value goja.Value
	if module {
		mod := s.vm.NewObject()
		exports := s.vm.NewObject()
		if err := mod.Set("exports", exports); err != nil {
			return nil, err
		}
		abs := absPath(s.path, s.host.Cwd)
		if _, err := fn(goja.Undefined(), exports, s.requireFunc(), mod,
			s.vm.ToValue(abs), s.vm.ToValue(filepath.Dir(abs))); err != nil {
			return nil, err
		}
		value = mod.Get("exports")
	} else if value, err = fn(goja.Undefined()); err != nil {
		return nil, err
	}
	if value == nil || goja.IsUndefined(value) || goja.IsNull(value) {
		if module {
			return nil, stop("exports nothing: want module.exports = { apps: [...] }")
		}
		return nil, stop("holds no value")
	}
	if _, isFunc := goja.AssertFunction(value); isFunc {
		return nil, stop("exports a function, not the ecosystem object PM2 reads")
	}
	js, err := stringify(goja.Undefined(), value)
	if err != nil {
		return nil, err
	}
	return []byte(js.String()), nil
}

// syntaxError formats a parse error as "file:line:col: SyntaxError: msg".
func syntaxError(name string, err error, prefixLen int) error {
	var list parser.ErrorList
	if errors.As(err, &list) && len(list) > 0 {
		p := list[0].Position
		return fmt.Errorf("%s:%d:%d: SyntaxError: %s", name, p.Line, column(p.Line, p.Column, prefixLen), list[0].Message)
	}
	return fmt.Errorf("%s: %v", name, err)
}

// runError formats an error from running the script as "file:line:col:
// message", with the position of the innermost frame in the file.
func runError(name string, err error, prefixLen int) error {
	var msg string
	var frames []goja.StackFrame
	var intr *goja.InterruptedError
	var so *goja.StackOverflowError
	var ex *goja.Exception
	var s stop
	switch {
	case errors.As(err, &intr):
		msg = fmt.Sprint(intr.Value())
		frames = intr.Stack()
	case errors.As(err, &so):
		msg = "call stack exceeded (endless recursion?)"
		frames = so.Stack()
	case errors.As(err, &ex):
		msg = ex.Value().String()
		frames = ex.Stack()
	case errors.As(err, &s):
		return fmt.Errorf("%s: %s", name, s)
	default:
		return fmt.Errorf("%s: %v", name, err)
	}
	for _, f := range frames {
		if f.SrcName() != name {
			continue
		}
		if p := f.Position(); p.Line > 0 {
			return fmt.Errorf("%s:%d:%d: %s", name, p.Line, column(p.Line, p.Column, prefixLen), msg)
		}
	}
	return fmt.Errorf("%s: %s", name, msg)
}

// column takes the wrapper's prefix off columns of the first line.
func column(line, col, prefixLen int) int {
	if line == 1 && col > prefixLen {
		return col - prefixLen
	}
	return col
}

// absPath is path made absolute against cwd (the importing directory).
func absPath(path, cwd string) string {
	if filepath.IsAbs(path) {
		return filepath.Clean(path)
	}
	return filepath.Join(cwd, path)
}

func fileURL(abs string) string {
	return "file://" + filepath.ToSlash(abs)
}
