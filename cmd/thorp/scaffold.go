package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// The Lua that `thorp init` and `thorp add` write.

// includeLine is the line of thorp.lua that loads the files `thorp add`
// writes.
const includeLine = `include("conf.d/*.lua")`

// confDir is the directory next to thorp.lua that includeLine loads.
const confDir = "conf.d"

// includeRE finds includeLine (either quote, with or without parentheses)
// at the start of a line, so a commented-out one does not count.
var includeRE = regexp.MustCompile(`(?m)^[ \t]*include[ \t]*\(?[ \t]*["']conf\.d/\*\.lua["']`)

// hasInclude reports whether the text of a thorp.lua loads conf.d/*.lua.
func hasInclude(text string) bool { return includeRE.MatchString(text) }

// addedMarker starts the first line of every file `thorp add` writes;
// `thorp remove` deletes only a file whose first line starts with it.
const addedMarker = "-- Written by 'thorp add "

// componentSpec is one component{} block to write.
type componentSpec struct {
	name      string
	argv      []string
	cwd       string // written as is; "" = not written
	cwdNote   string // comment after the cwd line
	env       [][2]string
	instances string // "" = not written; a count or "max"
	memory    string // "" = a commented example
}

// lua renders s as a component{} block.
func (s componentSpec) lua() string {
	var b strings.Builder
	fmt.Fprintf(&b, "component %s {\n", luaQuote(s.name))
	args := make([]string, len(s.argv))
	for i, a := range s.argv {
		args[i] = luaQuote(a)
	}
	fmt.Fprintf(&b, "  command = { %s },  -- argv, run without a shell\n", strings.Join(args, ", "))
	if s.cwd != "" {
		fmt.Fprintf(&b, "  cwd = %s,", luaQuote(s.cwd))
		if s.cwdNote != "" {
			b.WriteString("  -- " + s.cwdNote)
		}
		b.WriteString("\n")
	}
	if len(s.env) > 0 {
		b.WriteString("  env = {\n")
		for _, kv := range s.env {
			fmt.Fprintf(&b, "    %s = %s,\n", luaKey(kv[0]), luaQuote(kv[1]))
		}
		b.WriteString("  },\n")
	}
	switch {
	case s.instances == "max":
		b.WriteString("  instances = \"max\",  -- one process per CPU\n")
	case s.instances != "":
		fmt.Fprintf(&b, "  instances = %s,\n", s.instances)
	}
	if s.memory != "" {
		fmt.Fprintf(&b, "  max_memory_restart = %s,  -- restart a process whose tree grows past it\n", luaQuote(s.memory))
	} else {
		b.WriteString("  -- max_memory_restart = \"300MB\",  -- restart a process whose tree grows past it\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// luaQuote renders s as a Lua 5.1 string literal: bytes other than
// quotes, backslashes and control characters pass as they are (UTF-8
// stays readable); those are escaped, control characters as \ddd.
func luaQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\%03d`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// luaKeywords cannot be table keys in the short form.
var luaKeywords = map[string]bool{"and": true, "break": true, "do": true, "else": true, "elseif": true, "end": true,
	"false": true, "for": true, "function": true, "if": true, "in": true, "local": true, "nil": true, "not": true,
	"or": true, "repeat": true, "return": true, "then": true, "true": true, "until": true, "while": true}

// envNameRE is a variable name that `thorp add --env` accepts.
var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// luaKey renders a table key: K or ["K"].
func luaKey(k string) string {
	if envNameRE.MatchString(k) && !luaKeywords[k] {
		return k
	}
	return "[" + luaQuote(k) + "]"
}

// interpreters run a script named by their first argument that is not a
// flag; the component is named after the script.
var interpreters = []string{"node", "nodejs", "python", "ruby", "php", "bun", "deno", "bash", "sh", "perl", "tsx", "ts-node"}

// nameFor derives a component name from a command: the base name of the
// script an interpreter runs (node app.js → app), else of the program
// (./bin/api-server → api-server), made a valid name.
func nameFor(argv []string) string {
	prog := filepath.Base(argv[0])
	target := argv[0]
	if isInterpreter(prog) {
		for _, a := range argv[1:] {
			if strings.HasPrefix(a, "-") || a == "run" && (prog == "deno" || prog == "bun") {
				continue
			}
			target = a
			break
		}
	}
	base := filepath.Base(target)
	if i := strings.IndexByte(base, '.'); i > 0 {
		base = base[:i]
	}
	var b strings.Builder
	for _, r := range base {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	name := strings.TrimLeft(b.String(), "-_")
	if len(name) > 63 {
		name = name[:63]
	}
	if name == "" {
		return "app"
	}
	return name
}

// isInterpreter reports whether prog (a base name) is one of interpreters,
// a version suffix allowed (python3, python3.12).
func isInterpreter(prog string) bool {
	for _, i := range interpreters {
		if prog == i || strings.HasPrefix(prog, i) && strings.Trim(prog[len(i):], "0123456789.") == "" {
			return true
		}
	}
	return false
}

// createNew writes data to a new file at path (0644), refusing any
// existing file, link or directory there.
func createNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path) // ours: created above
		return err
	}
	return f.Close()
}

// sortedEnv returns env's pairs sorted by key.
func sortedEnv(env map[string]string) [][2]string {
	out := make([][2]string, 0, len(env))
	for k, v := range env {
		out = append(out, [2]string{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}
