package config

import (
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/v2"
)

// Decode layers built-in defaults → raw (thorp.lua) → THORP_* environment →
// overrides (flags), decodes strictly and validates.
//
// overrides uses settings keys, nested maps or dotted keys ("logs.max_size").
// env is a list of "NAME=value" like os.Environ(). Decode returns every
// problem found, errors and warnings, sorted by line; cfg is nil when there
// is any error. It has no side effects beyond reading the host's memory size
// and is safe for concurrent use.
func Decode(raw *Raw, env []string, overrides map[string]any) (*Config, Problems) {
	d := &decoder{raw: raw}
	cfg := d.decode(env, overrides)
	sort.SliceStable(d.problems, func(i, j int) bool {
		a, b := d.problems[i], d.problems[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Component != b.Component {
			return a.Component < b.Component
		}
		return a.Key < b.Key
	})
	if len(d.problems.Errors()) > 0 {
		return nil, d.problems
	}
	return cfg, d.problems
}

// DecodeSettings layers and decodes only raw's settings, with paths made
// absolute, without decoding or validating any component: the cheap path
// for a CLI that only needs to find the control socket of a running
// thorp. Problems are not reported; callers that need them use Decode.
func DecodeSettings(raw *Raw, env []string) Settings {
	d := &decoder{raw: raw}
	dir := filepath.Dir(raw.File)
	if abs, err := filepath.Abs(raw.File); err == nil {
		dir = filepath.Dir(abs)
	}
	st := d.decodeSettings(env, nil)
	st.Line = raw.SettingsLine
	st.Control = absIn(dir, st.Control)
	st.State = absIn(dir, st.State)
	st.Logs.Dir = absIn(dir, st.Logs.Dir)
	return st
}

// decoder collects problems while one Raw is decoded.
type decoder struct {
	raw      *Raw
	problems Problems
	// sources names where a settings key's final value came from when that
	// was not thorp.lua ("THORP_HTTP", "a flag").
	sources map[string]string
}

func (d *decoder) add(line int, component, key, msg string, warning bool) {
	d.problems = append(d.problems, Problem{
		File: d.raw.File, Line: line, Component: component, Key: key, Message: msg, Warning: warning,
	})
}

func (d *decoder) errorf(line int, component, key, format string, args ...any) {
	d.add(line, component, key, fmt.Sprintf(format, args...), false)
}

// failedKeys returns the keys that already have an error for the component
// (or the settings, for ""), so validation does not pile a second message on
// a value that failed to decode.
func (d *decoder) failedKeys(component string, line int) map[string]bool {
	out := map[string]bool{}
	for _, p := range d.problems {
		if !p.Warning && p.Component == component && (component == "" || p.Line == line) {
			out[p.Key] = true
		}
	}
	return out
}

func (d *decoder) warnf(line int, component, key, format string, args ...any) {
	d.add(line, component, key, fmt.Sprintf(format, args...), true)
}

func (d *decoder) decode(env []string, overrides map[string]any) *Config {
	cfg := &Config{File: d.raw.File}
	if abs, err := filepath.Abs(d.raw.File); err == nil {
		cfg.File = abs
	}
	cfg.Dir = filepath.Dir(cfg.File)
	cfg.Hooks = append([]Hook(nil), d.raw.Hooks...)

	cfg.Settings = d.decodeSettings(env, overrides)
	cfg.Settings.Line = d.raw.SettingsLine
	cfg.Settings.Control = absIn(cfg.Dir, cfg.Settings.Control)
	cfg.Settings.State = absIn(cfg.Dir, cfg.Settings.State)
	cfg.Settings.Logs.Dir = absIn(cfg.Dir, cfg.Settings.Logs.Dir)
	d.validateSettings(&cfg.Settings)

	for _, rc := range d.raw.Components {
		c := d.decodeComponent(rc, cfg.Settings.Logs)
		c.Cwd = absIn(cfg.Dir, c.Cwd)
		if c.Cwd == "" {
			c.Cwd = cfg.Dir
		}
		c.Logs.Dir = absIn(cfg.Dir, c.Logs.Dir)
		c.LogFile = absIn(cfg.Dir, c.LogFile)
		c.ErrorFile = absIn(cfg.Dir, c.ErrorFile)
		cfg.Components = append(cfg.Components, c)
	}
	d.validateComponents(cfg.Components)
	if len(d.raw.Components) == 0 {
		d.warnf(0, "", "", "no components declared; thorp will run and serve but supervise nothing")
	}
	return cfg
}

// absIn makes p absolute against dir; "" stays "".
func absIn(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// decodeSettings layers defaults, thorp.lua, THORP_* and flags (checking
// each layer's keys first) and decodes the result.
func (d *decoder) decodeSettings(env []string, overrides map[string]any) Settings {
	line := d.raw.SettingsLine
	settingsType := reflect.TypeFor[Settings]()
	k := koanf.New(".")
	load := func(m map[string]any, delim string) {
		if err := k.Load(confmap.Provider(m, delim), nil); err != nil {
			d.errorf(line, "", "", "load settings: %v", err)
		}
	}
	load(structToMap(reflect.ValueOf(Defaults())), "")

	if d.raw.Settings != nil {
		m := copyTable(d.raw.Settings)
		for _, ke := range dropUnknown(m, settingsType, "") {
			d.errorf(line, "", ke.key, "%s", ke.msg)
		}
		load(m, "")
	}

	envMap := d.envLayer(env)
	load(envMap, "")

	if len(overrides) > 0 {
		m := unflatten(overrides)
		for _, ke := range dropUnknown(m, settingsType, "") {
			d.errorf(0, "", ke.key, "%s (from a flag)", ke.msg)
		}
		for _, key := range flatKeys(m, "") {
			d.source(key, "a flag")
		}
		load(m, "")
	}

	var s Settings
	if err := k.UnmarshalWithConf("", &s, koanf.UnmarshalConf{Tag: "koanf", DecoderConfig: decoderConfig("")}); err != nil {
		for _, ke := range decodeErrors(err) {
			msg, at := ke.msg, line
			if src := d.sources[ke.key]; src != "" {
				msg += " (from " + src + ")"
				at = 0
			}
			d.errorf(at, "", ke.key, "%s", msg)
		}
	}
	return s
}

func (d *decoder) source(key, src string) {
	if d.sources == nil {
		d.sources = map[string]string{}
	}
	d.sources[key] = src
}

// envLayer turns THORP_<KEY>=value variables into a settings table.
func (d *decoder) envLayer(env []string) map[string]any {
	out := map[string]any{}
	for _, kv := range env {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, "THORP_") || name == "THORP_CONFIG" || name == "THORP_INSTANCE" {
			continue
		}
		path := strings.Split(strings.ToLower(strings.TrimPrefix(name, "THORP_")), "__")
		t, ok := settingsLeaf(path)
		if !ok {
			d.warnf(0, "", "", "environment variable %s is not a thorp setting; ignored", name)
			continue
		}
		key := strings.Join(path, ".")
		v, err := envValue(t, val)
		if err != nil {
			d.errorf(0, "", key, "%s=%q: %v", name, val, err)
			continue
		}
		setPath(out, path, v)
		d.source(key, name)
	}
	return out
}

// settingsLeaf returns the type of the settings value at path, which must end
// at a leaf (or an entry of a name = value table).
func settingsLeaf(path []string) (reflect.Type, bool) {
	t := reflect.TypeFor[Settings]()
	for i, p := range path {
		if p == "" {
			return nil, false
		}
		switch {
		case isSection(t):
			f, ok := tagFields(t)[p]
			if !ok {
				return nil, false
			}
			t = f.Type
		case t.Kind() == reflect.Map && i == len(path)-1:
			return t.Elem(), true
		default:
			return nil, false
		}
	}
	if isSection(t) || t.Kind() == reflect.Map {
		return nil, false
	}
	return t, true
}

// envValue parses an environment string for a value of type t.
func envValue(t reflect.Type, s string) (any, error) {
	switch t {
	case sizeType, durationType, signalType:
		return s, nil
	}
	switch t.Kind() {
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("expected true or false")
		}
		return b, nil
	case reflect.Int, reflect.Int64:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("expected a whole number")
		}
		return n, nil
	case reflect.Slice:
		var out []any
		for _, part := range strings.Split(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
		if out == nil {
			return map[string]any{}, nil
		}
		return out, nil
	}
	return s, nil
}

func setPath(m map[string]any, path []string, v any) {
	for _, p := range path[:len(path)-1] {
		sub, ok := m[p].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[p] = sub
		}
		m = sub
	}
	m[path[len(path)-1]] = v
}

// unflatten expands dotted keys ("logs.max_size") into nested tables,
// merging tables that meet at the same key.
func unflatten(m map[string]any) map[string]any {
	out := map[string]any{}
	for _, k := range sortedKeys(m) {
		v := m[k]
		if sub, ok := v.(map[string]any); ok {
			v = unflatten(sub)
		}
		mergeAt(out, strings.Split(k, "."), v)
	}
	return out
}

func mergeAt(m map[string]any, path []string, v any) {
	for _, p := range path[:len(path)-1] {
		sub, ok := m[p].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[p] = sub
		}
		m = sub
	}
	last := path[len(path)-1]
	if vm, ok := v.(map[string]any); ok {
		if em, ok := m[last].(map[string]any); ok {
			for kk, vv := range vm {
				mergeAt(em, []string{kk}, vv)
			}
			return
		}
	}
	m[last] = v
}

// flatKeys lists the dotted leaf keys of m.
func flatKeys(m map[string]any, prefix string) []string {
	var out []string
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
			out = append(out, flatKeys(sub, prefix+k+".")...)
			continue
		}
		out = append(out, prefix+k)
	}
	return out
}

// copyTable copies nested tables so decoding never changes the caller's Raw;
// other values are shared.
func copyTable(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			v = copyTable(sub)
		}
		out[k] = v
	}
	return out
}

// structToMap renders a struct with koanf tags as a table for a defaults
// layer; nil maps, slices and pointers are left out.
func structToMap(v reflect.Value) map[string]any {
	out := map[string]any{}
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("koanf"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		fv := v.Field(i)
		switch {
		case isSection(f.Type):
			out[tag] = structToMap(fv)
		case (fv.Kind() == reflect.Map || fv.Kind() == reflect.Slice || fv.Kind() == reflect.Pointer) && fv.IsNil():
		case f.Type == commandType && len(fv.Interface().(Command).Argv) == 0:
		default:
			out[tag] = fv.Interface()
		}
	}
	return out
}

// decodeComponent layers the component defaults (with logs inherited from
// settings) under rc.Values and decodes the result.
func (d *decoder) decodeComponent(rc RawComponent, logs LogSettings) Component {
	problem := func(key, msg string) { d.errorf(rc.Line, rc.Name, key, "%s", msg) }
	values := copyTable(rc.Values)
	if values == nil {
		values = map[string]any{}
	}
	for _, ke := range dropUnknown(values, reflect.TypeFor[Component](), "", componentExtraKeys...) {
		problem(ke.key, ke.msg)
	}

	if b, ok := values["autorestart"].(bool); ok {
		values["autorestart"] = AutorestartNever
		if b {
			values["autorestart"] = AutorestartAlways
		}
	}
	ready, hasReady := values["ready"]
	health, hasHealth := values["health"]
	policy, hasPolicy := values["memory_policy"]
	delete(values, "ready")
	delete(values, "health")
	delete(values, "memory_policy")

	def := DefaultComponent()
	def.Logs = logs
	k := koanf.New(".")
	for _, m := range []map[string]any{structToMap(reflect.ValueOf(def)), values} {
		if err := k.Load(confmap.Provider(m, ""), nil); err != nil {
			problem("", fmt.Sprintf("load component: %v", err))
		}
	}
	var c Component
	if err := k.UnmarshalWithConf("", &c, koanf.UnmarshalConf{Tag: "koanf", DecoderConfig: decoderConfig("")}); err != nil {
		for _, ke := range decodeErrors(err) {
			problem(ke.key, ke.msg)
		}
	}
	c.Name, c.Line = rc.Name, rc.Line
	c.Ready = def.Ready

	if hasReady {
		switch r := ready.(type) {
		case Func:
			c.Ready, c.ReadyFunc = "", r
		case string:
			c.Ready = r
			if msg := checkReady(r); msg != "" {
				problem("ready", msg)
			}
		default:
			problem("ready", expected(`"started", "notify", "http://…", "tcp://host:port", "log:REGEX" or a Lua function`, ready).Error())
		}
	}
	if hasHealth {
		c.Health = d.decodeHealth(rc, health)
	}
	if hasPolicy {
		if f, ok := policy.(Func); ok {
			c.MemoryPolicy = f
		} else {
			problem("memory_policy", expected("a Lua function", policy).Error())
		}
	}
	if hasCommand := rc.Values["command"] != nil; !hasCommand {
		problem("command", `is required: give a list like { "node", "app.js" } or a shell command string`)
	}
	d.validateComponent(&c, rc)
	return c
}

// decodeHealth decodes health = { … } or health = function.
func (d *decoder) decodeHealth(rc RawComponent, v any) *Health {
	h := DefaultHealth()
	switch x := v.(type) {
	case Func:
		h.Func = x
		return &h
	case map[string]any:
		m := copyTable(x)
		for _, ke := range dropUnknown(m, reflect.TypeFor[Health](), "health.") {
			d.errorf(rc.Line, rc.Name, ke.key, "%s", ke.msg)
		}
		k := koanf.New(".")
		for _, layer := range []map[string]any{structToMap(reflect.ValueOf(h)), m} {
			if err := k.Load(confmap.Provider(layer, ""), nil); err != nil {
				d.errorf(rc.Line, rc.Name, "health", "load health: %v", err)
			}
		}
		h = Health{}
		failed := map[string]bool{}
		if err := k.UnmarshalWithConf("", &h, koanf.UnmarshalConf{Tag: "koanf", DecoderConfig: decoderConfig("health")}); err != nil {
			for _, ke := range decodeErrors(err) {
				d.errorf(rc.Line, rc.Name, ke.key, "%s", ke.msg)
				failed[ke.key] = true
			}
		}
		bad := func(key, format string, args ...any) {
			if !failed[key] {
				d.errorf(rc.Line, rc.Name, key, format, args...)
			}
		}
		if _, ok := m["http"]; !ok {
			bad("health.http", `is required in a health table (e.g. "http://127.0.0.1:8080/health")`)
		} else if msg := checkHTTPURL(h.HTTP); msg != "" {
			bad("health.http", "%s", msg)
		}
		if h.Interval <= 0 {
			bad("health.interval", "must be more than 0")
		}
		if h.Timeout <= 0 {
			bad("health.timeout", "must be more than 0")
		}
		if h.Failures < 1 {
			bad("health.failures", "must be at least 1, got %d", h.Failures)
		}
		return &h
	default:
		d.errorf(rc.Line, rc.Name, "health", "%v", expected(`a table { http = "…", interval = "5s", timeout = "1s", failures = 3 } or a Lua function`, v))
		return nil
	}
}
