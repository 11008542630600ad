package config

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// Raw is what evaluating a thorp.lua produced, before decoding: plain Go values
// converted from Lua (string, float64, bool, map[string]any, []any, Func),
// each declaration with the line it came from. A Lua table is a []any when
// its keys are exactly 1..n and a map[string]any otherwise; an empty table
// is an empty map, since Lua cannot tell an empty list from it.
type Raw struct {
	// File is the absolute path of the evaluated file.
	File string
	// Name is the file as the operator named it, for problems; "" means File.
	Name string
	// Settings is the merged table of every settings{} call (nil when absent).
	Settings map[string]any
	// SettingsLine is the line of the first settings{} call, 0 when absent.
	SettingsLine int
	// Components in declaration order.
	Components []RawComponent
	// Hooks are the on(event, fn) calls.
	Hooks []Hook
}

// RawComponent is one component "name" { ... } call.
type RawComponent struct {
	Name string
	Line int
	// File is the file it was declared in when that is not thorp.lua but
	// a file thorp.lua includes: its path relative to thorp.lua's
	// directory ("conf.d/web.lua"). "" for thorp.lua.
	File   string
	Values map[string]any
}

// ProblemFile is the file a problem about something declared in declaredIn
// (a RawComponent.File, "" for thorp.lua) names, for a thorp.lua named
// configFile.
func ProblemFile(configFile, declaredIn string) string {
	if declaredIn == "" {
		return configFile
	}
	return filepath.Join(filepath.Dir(configFile), declaredIn)
}

// Problem is one error or warning about a config, pointing at its source.
type Problem struct {
	// File is the config file's path as the operator named it (or its base name).
	File string `json:"file"`
	// Line and Col locate the problem; 0 when unknown.
	Line int `json:"line,omitempty"`
	Col  int `json:"col,omitempty"`
	// Component is the component's name, "" for settings or the whole file.
	Component string `json:"component,omitempty"`
	// Key is the offending key, dotted for nesting ("logs.max_size"), "" when none.
	Key string `json:"key,omitempty"`
	// Message says what is wrong and what to do.
	Message string `json:"message"`
	// Warning marks a problem that does not stop thorp from running.
	Warning bool `json:"warning,omitempty"`
	// Source names where the offending value came from when that was not
	// the file: a THORP_* variable ("THORP_HTTP") or a flag
	// ("--set http=bad"); "" for the file. Line is then 0.
	Source string `json:"source,omitempty"`
}

// String renders the problem as FILE:LINE[:COL]: component "x": key: message,
// or as SOURCE: message when the value came from the environment or a flag
// (the source names the key).
func (p Problem) String() string {
	if p.Source != "" {
		return p.Source + ": " + p.Message
	}
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
		if p.Col > 0 {
			fmt.Fprintf(&b, ":%d", p.Col)
		}
	}
	b.WriteString(": ")
	if p.Component != "" {
		fmt.Fprintf(&b, "component %q: ", p.Component)
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is a list of problems; it is an error when it holds at least one
// non-warning problem (see Err).
type Problems []Problem

// Sort orders ps in place: the problems of THORP_* variables and flags
// (Source) first, then by file and line, then by component and key; the
// order of equal problems is kept.
func (ps Problems) Sort() {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		fromFile := func(p Problem) bool { return p.Source == "" }
		return cmp.Or(compareBool(fromFile(a), fromFile(b)), cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Component, b.Component), cmp.Compare(a.Key, b.Key))
	})
}

// compareBool orders false before true.
func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// Errors returns the problems that are not warnings.
func (ps Problems) Errors() Problems {
	var out Problems
	for _, p := range ps {
		if !p.Warning {
			out = append(out, p)
		}
	}
	return out
}

// Warnings returns the problems that are warnings.
func (ps Problems) Warnings() Problems {
	var out Problems
	for _, p := range ps {
		if p.Warning {
			out = append(out, p)
		}
	}
	return out
}

// Err returns nil when there are no errors, else an error listing every one.
func (ps Problems) Err() error {
	errs := ps.Errors()
	if len(errs) == 0 {
		return nil
	}
	return ProblemsError(errs)
}

// ProblemsError is the error form of a non-empty list of errors.
type ProblemsError Problems

// Error lists every problem, one a line.
func (e ProblemsError) Error() string {
	lines := make([]string, len(e))
	for i, p := range e {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}
