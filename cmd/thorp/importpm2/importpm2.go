// Package importpm2 converts a PM2 ecosystem file (JavaScript, JSON with or
// without comments, or YAML) or PM2's saved process list (~/.pm2/dump.pm2)
// into a thorp.lua.
//
// Conversion is a pure function of its inputs (the file's bytes, its name
// and Options: the time for the header, and the host a JavaScript file
// sees): JavaScript runs in the sandbox of package jseval, there is no shared state, and every function
// here is safe for concurrent use.
// Every PM2 key either maps to a thorp key or is kept as a Lua comment inside
// its component, so nothing is lost silently. PM2's cluster mode (instances
// sharing one port) becomes a proxy on the app's PORT; see converter.proxy.
package importpm2

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/thorp-dev/thorp/cmd/thorp/importpm2/jseval"
)

// Format is the kind of PM2 file a byte slice holds.
type Format int

// The formats DetectFormat tells apart.
const (
	// FormatUnknown is anything else; Convert tries it as JSON.
	FormatUnknown Format = iota
	// FormatEcosystem is an ecosystem file in JSON: {"apps": [...]}, a bare
	// array of apps, or a single app object.
	FormatEcosystem
	// FormatDump is PM2's dump.pm2: a JSON array of process descriptors,
	// each with a pm2_env object or PM2's flat keys (pm_exec_path, pm_cwd…).
	FormatDump
	// FormatJS is an ecosystem.config.js/.cjs/.mjs, evaluated by jseval.
	FormatJS
	// FormatYAML is an ecosystem file in YAML.
	FormatYAML
	// FormatJSON5 is an ecosystem file in JSON with comments, trailing
	// commas or unquoted keys (JSON5), read as a JavaScript literal.
	FormatJSON5
)

// String names the format for messages.
func (f Format) String() string {
	switch f {
	case FormatEcosystem:
		return "ecosystem JSON"
	case FormatDump:
		return "dump.pm2"
	case FormatJS:
		return "JavaScript ecosystem"
	case FormatYAML:
		return "YAML ecosystem"
	case FormatJSON5:
		return "ecosystem JSON5"
	}
	return "unknown"
}

// DetectFormat guesses what source (a file name, used for its extension)
// with contents data is. It never fails: FormatUnknown means "try JSON".
func DetectFormat(source string, data []byte) Format {
	base := strings.ToLower(filepath.Base(source))
	ext := filepath.Ext(base)
	switch ext {
	case ".js", ".cjs", ".mjs":
		return FormatJS
	case ".yml", ".yaml":
		return FormatYAML
	case ".json5":
		return FormatJSON5
	}
	if strings.Contains(base, "dump") && strings.Contains(base, ".pm2") {
		return FormatDump
	}
	trimmed := bytes.TrimSpace(data)
	if !json.Valid(trimmed) {
		s := string(trimmed)
		switch {
		case strings.Contains(s, "module.exports") || strings.Contains(s, "export default") || strings.Contains(s, "exports.apps") || strings.Contains(s, "require("):
			return FormatJS
		case strings.HasPrefix(s, "apps:") || strings.Contains(s, "\napps:") || strings.HasPrefix(s, "---"):
			return FormatYAML
		case ext == ".json" || strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[") || strings.HasPrefix(s, "//") || strings.HasPrefix(s, "/*"):
			return FormatJSON5
		}
		return FormatUnknown
	}
	var arr []map[string]json.RawMessage
	if json.Unmarshal(trimmed, &arr) == nil {
		for _, e := range arr {
			if _, ok := e["pm2_env"]; ok {
				return FormatDump
			}
			if _, ok := e["pm_exec_path"]; ok {
				return FormatDump
			}
		}
	}
	return FormatEcosystem
}

// Options is what a conversion depends on besides the file.
type Options struct {
	Now  time.Time   // dates the header
	Host jseval.Host // what a JavaScript ecosystem file sees
}

// DefaultOptions are the options of an import run now on this machine:
// JavaScript sees this process's environment, directory and host.
func DefaultOptions() Options {
	return Options{Now: time.Now(), Host: jseval.CurrentHost()}
}

// Convert turns the PM2 file data (named source, as the operator gave it) into
// the text of a thorp.lua. notes are warnings for the operator (one line
// each, naming the app), such as keys that have no thorp equivalent. The
// error names source and the problem, with the line where there is one: a
// JavaScript file that throws, runs too long or requires a module other
// than path, os or url, or a file that does not parse.
func Convert(data []byte, source string, opts Options) (lua []byte, notes []string, err error) {
	name := filepath.Base(source)
	format := DetectFormat(source, data)
	doc, fileNotes, err := decode(data, source, format, opts.Host)
	if err != nil {
		return nil, nil, err
	}
	if format == FormatUnknown {
		format = FormatEcosystem
	}
	apps, extra, err := appList(doc, name, format == FormatDump)
	if err != nil {
		return nil, nil, err
	}
	c := &converter{dump: format == FormatDump, hostEnv: opts.Host.Env, entries: map[string]int{}, used: map[string]bool{}, seen: map[string]bool{}}
	for _, a := range apps {
		c.entries[stringOf(a["name"])]++
	}
	var comps []*component
	for i, a := range apps {
		if comp := c.app(a, i); comp != nil {
			comps = append(comps, comp)
		}
	}
	kind := "PM2 ecosystem file"
	switch format {
	case FormatDump:
		kind = "PM2 process list"
	case FormatJS:
		kind = "PM2 ecosystem file, JavaScript evaluated by thorp"
	}
	if len(c.profiles) > 0 {
		c.notes = append(c.notes, fmt.Sprintf("env profiles %s (pm2's env_<name>): select one with `thorp run --env NAME` or THORP_ENV=NAME", strings.Join(c.profiles, ", ")))
	}
	var fileComments []string
	for _, n := range fileNotes {
		fileComments = append(fileComments, "The "+strings.TrimPrefix(n, "the "))
	}
	for i, n := range fileNotes {
		fileNotes[i] = name + ": " + n
	}
	h := header{source: commentText(source), kind: kind, date: opts.Now.Format("2006-01-02"), extra: extra, notes: fileComments, profiles: c.profiles}
	out := render(h, comps)
	return out, append(fileNotes, c.notes...), nil
}

// decode reads the file into JSON-like values (numbers as json.Number).
func decode(data []byte, source string, format Format, host jseval.Host) (any, []string, error) {
	name := filepath.Base(source)
	var notes []string
	switch format {
	case FormatJS:
		res, err := jseval.Module(data, source, host)
		if err != nil {
			return nil, nil, err
		}
		data, notes = res.JSON, res.Notes
	case FormatJSON5:
		res, err := jseval.Literal(data, source, host)
		if err != nil {
			return nil, nil, fmt.Errorf("%w (read as JSON with comments, JSON5, since it is not plain JSON)", err)
		}
		data, notes = res.JSON, res.Notes
	case FormatYAML:
		doc, err := yamlDoc(data, name)
		return doc, nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, nil, fmt.Errorf("%s: not JSON: %w; thorp reads ecosystem files in JavaScript (.js, .cjs, .mjs), JSON (comments allowed), YAML and dump.pm2", name, err)
	}
	if dec.More() {
		return nil, nil, fmt.Errorf("%s: not JSON: data after the first value", name)
	}
	return doc, notes, nil
}

// appList finds the apps in a decoded document. extra lists top-level
// ecosystem keys other than apps (deploy…), which only get a comment.
func appList(doc any, name string, dump bool) ([]map[string]any, []string, error) {
	var list []any
	var extra []string
	switch v := doc.(type) {
	case []any:
		list = v
	case map[string]any:
		if apps, ok := v["apps"]; ok {
			switch a := apps.(type) {
			case []any:
				list = a
			case map[string]any:
				list = []any{a}
			default:
				return nil, nil, fmt.Errorf("%s: \"apps\" is not a list of apps", name)
			}
			for _, k := range slices.Sorted(maps.Keys(v)) {
				if k != "apps" {
					extra = append(extra, k)
				}
			}
		} else if _, ok := v["script"]; ok || dump {
			list = []any{v}
		} else {
			return nil, nil, fmt.Errorf("%s: no \"apps\" list and no \"script\": not a PM2 ecosystem file", name)
		}
	default:
		return nil, nil, fmt.Errorf("%s: want an object with \"apps\" or a list of apps, got %s", name, jsonText(doc))
	}
	apps := make([]map[string]any, 0, len(list))
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, nil, fmt.Errorf("%s: app %d is not an object: %s", name, i+1, jsonText(e))
		}
		apps = append(apps, flatten(m))
	}
	return apps, extra, nil
}

// flatten merges a dump.pm2 descriptor's pm2_env into one map; keys outside
// pm2_env win, as they describe the same process.
func flatten(m map[string]any) map[string]any {
	env, ok := m["pm2_env"].(map[string]any)
	if !ok {
		return m
	}
	out := make(map[string]any, len(env)+len(m))
	for k, v := range env {
		out[k] = v
	}
	for k, v := range m {
		if k != "pm2_env" {
			out[k] = v
		}
	}
	return out
}
