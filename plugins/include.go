package plugins

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// includes are the files include() calls, plugin declarations and
// require() found while thorp.lua was first evaluated, compiled once. Every
// further evaluation of the same thorp.lua (the Lua states of hooks and
// probes) runs exactly these, so that it declares the same functions even
// if the directory changed since; it only reads them (frozen), so they may
// run concurrently.
type includes struct {
	// frozen is set once the first evaluation has ended.
	frozen bool
	// globs are the sorted absolute matches of each include() call, by
	// directory and pattern.
	globs map[string][]string
	// files are the included files, plugin files and modules by absolute
	// path.
	files map[string]*includedFile
	// modules are the files require() found, by moduleKey.
	modules map[string]string
}

// newIncludes returns an empty set, for a first evaluation.
func newIncludes() *includes {
	return &includes{files: map[string]*includedFile{}, globs: map[string][]string{}, modules: map[string]string{}}
}

// includedFile is one file include(), plugin or require() loaded.
type includedFile struct {
	// chunk is its Lua chunk name: its path relative to thorp.lua's
	// directory, so that errors and functions read "conf.d/web.lua:LINE".
	chunk string
	src   []byte
	// proto is nil when the file could not be read or compiled (a problem
	// says so).
	proto *lua.FunctionProto
}

// luaInclude is include(pattern): it runs every file matching the glob
// pattern (relative to the directory of the file calling it), in sorted
// order, in the same Lua state and sandbox, as if its text stood there. A
// pattern matching nothing is fine (an empty conf.d). A file's errors are
// problems at its own FILE:LINE, and evaluation goes on with the next file.
func (e *evaluator) luaInclude(L *lua.LState) int {
	e.declaring(L, "include")
	at := e.caller(L)
	pattern, ok := L.Get(1).(lua.LString)
	if !ok || L.GetTop() != 1 {
		e.problemAt(at, "", "", `include takes one file pattern: include("conf.d/*.lua")`)
		return 0
	}
	base := e.dir
	if at.chunk != e.chunk {
		base = filepath.Dir(filepath.Join(e.dir, at.chunk))
	}
	glob := string(pattern)
	if !filepath.IsAbs(glob) {
		glob = filepath.Join(base, glob)
	}
	matches, known := e.inc.globs[glob]
	if !known && !e.inc.frozen {
		var err error
		if matches, err = filepath.Glob(glob); err != nil {
			e.problemAt(at, "", "", fmt.Sprintf("include(%q): %v", string(pattern), err))
			return 0
		}
		sort.Strings(matches)
		e.inc.globs[glob] = matches
	}
	for _, path := range matches {
		if e.included[path] {
			e.problemAt(at, "", "", fmt.Sprintf("include(%q): %s is included twice (by itself, or by two patterns)", string(pattern), e.file(e.chunkOf(path))))
			continue
		}
		e.included[path] = true
		f := e.inc.files[path]
		if f == nil {
			if e.inc.frozen {
				continue
			}
			f = e.compile(path, at)
			e.inc.files[path] = f
		}
		if f.proto != nil {
			e.runIncluded(L, f)
		}
	}
	return 0
}

// chunkOf is the chunk name of the file at absolute path.
func (e *evaluator) chunkOf(path string) string {
	if rel, err := filepath.Rel(e.dir, path); err == nil {
		return rel
	}
	return path
}

// compile reads and compiles the included or plugin file at path; a file
// that cannot be read or compiled is a problem, at the include or plugin
// call (at) or at the file's own LINE:COL.
func (e *evaluator) compile(path string, at pos) *includedFile {
	f := &includedFile{chunk: e.chunkOf(path)}
	src, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		e.problemAt(at, "", "", fmt.Sprintf("cannot read %s: %v", f.chunk, err))
		return f
	}
	f.src = src
	if f.proto, err = compileChunk(src, f.chunk); err != nil {
		e.problems = append(e.problems, syntaxProblem(e.file(f.chunk), err, src))
	}
	return f
}

// compileChunk compiles src as the Lua chunk named chunk.
func compileChunk(src []byte, chunk string) (*lua.FunctionProto, error) {
	c, err := parse.Parse(bytes.NewReader(skipShebang(src)), chunk)
	if err != nil {
		return nil, err
	}
	return lua.Compile(c, chunk)
}

// runIncluded runs f's chunk in L. A Lua error is a problem at its own
// place and evaluation goes on; a time or memory limit that stopped it is
// raised again, to end the evaluation as it would in thorp.lua.
func (e *evaluator) runIncluded(L *lua.LState, f *includedFile) {
	L.Push(L.NewFunctionFromProto(f.proto))
	e.runChunk(L, f.chunk, 0)
}

// runChunk calls the function of chunk below its nargs arguments on L's
// stack, as runIncluded does.
func (e *evaluator) runChunk(L *lua.LState, chunk string, nargs int) {
	err := L.PCall(nargs, 0, nil)
	if err == nil {
		return
	}
	msg := errorText(L, chunk, err)
	if ctx := L.Context(); ctx != nil && ctx.Err() != nil {
		L.Error(lua.LString(msg), 0)
	}
	where, text := e.errorAt(msg)
	e.problemAt(where, "", "", hint(text))
}
