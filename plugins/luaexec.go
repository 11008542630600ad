package plugins

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"github.com/thorp-dev/thorp/engine/config"
)

// MaxExecOutput is how much of a program's stdout, and of its stderr,
// thorp.exec keeps; the rest is read and dropped, and a note says so.
const MaxExecOutput = config.MiB

// defaultExecPATH is a program's PATH when thorp has none.
const defaultExecPATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

var execFields = []string{"argv", "timeout", "env", "stdin"}

// luaExec is thorp.exec{ argv, timeout, env, stdin }: runs a program
// settings.plugins.allow_exec lists and returns { code, signal, stdout,
// stderr }. It waits on the owner goroutine, holding the call's deadline
// off for its timeout.
func (e *evaluator) luaExec(L *lua.LState) int {
	const fn = "thorp.exec"
	e.refuseWhileLoading(L, fn)
	t := argTable(L, fn, `thorp.exec{ argv = { "/usr/bin/logger", "-t", "thorp", "hello" }, timeout = "5s" }`, execFields...)
	argv := argvField(L, fn, t)
	env := stringMap(L, fn, t, "env")
	stdin := optString(L, fn, t, "stdin", "")
	timeout := waitTimeout(L, fn, t)
	prog := argv[0]
	switch {
	case !filepath.IsAbs(prog):
		L.RaiseError("%s: %q is not an absolute path; thorp.exec runs only the programs settings.plugins.allow_exec lists, by absolute path", fn, prog)
	case !e.grants.program(prog):
		listed := "it lists none"
		if ps := e.grants.programs(); len(ps) > 0 {
			listed = "it lists " + strings.Join(ps, ", ")
		}
		L.RaiseError("%s: %s is not in settings.plugins.allow_exec (%s)", fn, prog, listed)
	}
	environ, err := execEnv(env)
	if err != nil {
		L.RaiseError("%s: env: %v", fn, err)
	}

	p := program{argv: argv, env: environ, stdin: stdin, dir: e.dir, timeout: timeout}
	release := deadlineOf(L.Context()).hold(timeout)
	res, err := p.run(callContext(L))
	release()
	if err != nil {
		L.RaiseError("%s: %v", fn, err)
	}
	out := L.CreateTable(0, 4)
	if res.signal != 0 {
		out.RawSetString("signal", lua.LString(unix.SignalName(res.signal)))
	} else {
		out.RawSetString("code", lua.LNumber(res.code))
	}
	out.RawSetString("stdout", lua.LString(res.stdout))
	out.RawSetString("stderr", lua.LString(res.stderr))
	L.Push(out)
	return 1
}

// argvField returns the argv field of t: a non-empty list of strings
// (numbers taken as their text) without NUL bytes.
func argvField(L *lua.LState, fn string, t *lua.LTable) []string {
	const example = `{ "/usr/bin/logger", "-t", "thorp", "hello" }`
	list, ok := t.RawGetString("argv").(*lua.LTable)
	if !ok || list.Len() == 0 {
		L.RaiseError("%s: argv must be a list of the program's absolute path and its arguments, like %s", fn, example)
	}
	n := 0
	list.ForEach(func(lua.LValue, lua.LValue) { n++ })
	if n != list.Len() {
		L.RaiseError("%s: argv must be a list (items 1, 2, 3, … and no names), like %s", fn, example)
	}
	argv := make([]string, n)
	for i := range argv {
		switch v := list.RawGetInt(i + 1).(type) {
		case lua.LString, lua.LNumber:
			argv[i] = v.String()
		default:
			L.RaiseError("%s: argv[%d] must be a string, got a %s", fn, i+1, v.Type())
		}
		if strings.ContainsRune(argv[i], 0) {
			L.RaiseError("%s: argv[%d] holds a NUL byte", fn, i+1)
		}
	}
	return argv
}

// execEnv is a program's whole environment: PATH (thorp's, or
// defaultExecPATH) and extra over it, nothing else of thorp's.
func execEnv(extra map[string]string) ([]string, error) {
	env := map[string]string{"PATH": os.Getenv("PATH")}
	if env["PATH"] == "" {
		env["PATH"] = defaultExecPATH
	}
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		v := extra[k]
		switch {
		case k == "" || strings.ContainsAny(k, "=\x00"):
			return nil, fmt.Errorf("%q is not a variable name (not empty, no '=' or NUL byte)", k)
		case strings.ContainsRune(v, 0):
			return nil, fmt.Errorf("%s holds a NUL byte", k)
		}
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out, nil
}

// cappedOutput keeps the first max bytes written to it and counts the
// rest, never refusing a write (a program blocked on a full pipe would
// hang until its timeout). One goroutine writes; read it after.
type cappedOutput struct {
	b   []byte
	max int
	cut int64
}

func (c *cappedOutput) Write(p []byte) (int, error) {
	n := min(len(p), c.max-len(c.b))
	c.b = append(c.b, p[:n]...)
	c.cut += int64(len(p) - n)
	return len(p), nil
}

// String is what was kept, with a note of what was cut.
func (c *cappedOutput) String() string {
	if c.cut == 0 {
		return string(c.b)
	}
	return fmt.Sprintf("%s\n… (%d bytes cut: thorp.exec keeps %s of each stream)", c.b, c.cut, config.Size(c.max))
}
