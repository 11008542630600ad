// Package importpm2 converts a PM2 ecosystem file (JSON) or PM2's saved
// process list (~/.pm2/dump.pm2) into a thorp.lua.
//
// Conversion is a pure function of its inputs (the file's bytes, its name,
// the time for the header and the host's CPU count for negative instances):
// there is no shared state, so every function here is safe for concurrent use.
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
	"runtime"
	"slices"
	"strings"
	"time"
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
	// FormatJS is an ecosystem.config.js/.cjs/.mjs, which needs Node.js.
	FormatJS
	// FormatYAML is an ecosystem file in YAML, which thorp does not read.
	FormatYAML
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
	}
	return "unknown"
}

// DetectFormat guesses what source (a file name, used for its extension)
// with contents data is. It never fails: FormatUnknown means "try JSON".
func DetectFormat(source string, data []byte) Format {
	base := strings.ToLower(filepath.Base(source))
	switch filepath.Ext(base) {
	case ".js", ".cjs", ".mjs":
		return FormatJS
	case ".yml", ".yaml":
		return FormatYAML
	}
	trimmed := bytes.TrimSpace(data)
	if !json.Valid(trimmed) {
		s := string(trimmed)
		switch {
		case strings.Contains(s, "module.exports") || strings.HasPrefix(s, "export default") || strings.Contains(s, "require("):
			return FormatJS
		case strings.HasPrefix(s, "apps:") || strings.Contains(s, "\napps:") || strings.HasPrefix(s, "---"):
			return FormatYAML
		}
		return FormatUnknown
	}
	if strings.Contains(base, "dump") && strings.Contains(base, ".pm2") {
		return FormatDump
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

// Convert turns the PM2 file data (named source, as the operator gave it) into
// the text of a thorp.lua. now dates the header. notes are warnings for the
// operator (one line each, naming the app), such as keys that have no thorp
// equivalent. The error names source and the problem; JavaScript and YAML
// ecosystem files are refused with a hint on exporting them as JSON.
func Convert(data []byte, source string, now time.Time) (lua []byte, notes []string, err error) {
	return convert(data, source, now, runtime.NumCPU())
}

func convert(data []byte, source string, now time.Time, cpus int) ([]byte, []string, error) {
	name := filepath.Base(source)
	format := DetectFormat(source, data)
	switch format {
	case FormatJS:
		return nil, nil, fmt.Errorf("%s: a JavaScript ecosystem file can only be evaluated by Node.js, which thorp does not run; "+
			"export it as JSON and import that: node -e 'import(%q).then(m => console.log(JSON.stringify(m.default ?? m, null, 2)))' > ecosystem.json "+
			"(or, with the apps running under PM2, 'pm2 save' and import ~/.pm2/dump.pm2)", name, importPath(source))
	case FormatYAML:
		return nil, nil, fmt.Errorf("%s: YAML ecosystem files are not supported; convert it to JSON (e.g. yq -o=json %s > ecosystem.json) "+
			"or, with the apps running under PM2, 'pm2 save' and import ~/.pm2/dump.pm2", name, name)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, nil, fmt.Errorf("%s: not JSON: %w; export the ecosystem as JSON", name, err)
	}
	if dec.More() {
		return nil, nil, fmt.Errorf("%s: not JSON: data after the first value; export the ecosystem as JSON", name)
	}
	apps, extra, err := appList(doc, name, format == FormatDump)
	if err != nil {
		return nil, nil, err
	}
	c := &converter{dump: format == FormatDump, cpus: cpus, used: map[string]bool{}, seen: map[string]bool{}}
	var comps []*component
	for i, a := range apps {
		if comp := c.app(a, i); comp != nil {
			comps = append(comps, comp)
		}
	}
	kind := "PM2 ecosystem file"
	if c.dump {
		kind = "PM2 process list"
	}
	out := render(header{source: commentText(source), kind: kind, date: now.Format("2006-01-02"), extra: extra}, comps)
	return out, c.notes, nil
}

// importPath is source as a specifier for import(): relative paths get "./".
func importPath(source string) string {
	if filepath.IsAbs(source) || strings.HasPrefix(source, "./") || strings.HasPrefix(source, "../") {
		return source
	}
	return "./" + source
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
