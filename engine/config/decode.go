package config

import (
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	kmaps "github.com/knadh/koanf/maps"
	"github.com/knadh/koanf/providers/confmap"
	envprovider "github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/structs"
	"github.com/knadh/koanf/v2"
)

// Decode is thorp's one config loader. With koanf's providers it layers
//
//  1. the built-in defaults (structs, over Defaults()),
//  2. thorp.lua's settings{} (confmap, over raw),
//  3. THORP_<KEY> variables of env, "__" for nesting (env, with a callback
//     that types each value by the setting it names), and
//  4. overrides, the --set flags: settings keys, nested or dotted
//     ("logs.max_size") (confmap),
//
// unmarshals the result once into Settings, layers each component over its
// defaults (with settings.logs inherited) and unmarshals it once, and then
// validates everything once. Decoding is strict: an unknown key is an error
// with a "did you mean" where one is close, a wrong type an error in the
// operator's terms.
//
// env is a list of "NAME=value" like os.Environ(). Decode returns every
// problem found, errors and warnings, sorted by line; cfg is nil when there
// is any error. It has no side effects beyond reading the host's memory size
// and CPU count (instances = "max") and is safe for concurrent use.
func Decode(raw *Raw, env []string, overrides map[string]any) (*Config, Problems) {
	d := &decoder{raw: raw}
	cfg := d.decode(env, overrides)
	d.problems.Sort()
	if len(d.problems.Errors()) > 0 {
		return nil, d.problems
	}
	return cfg, d.problems
}

// DecodeValid is Decode for a caller that checks what it can of a config
// with errors (thorp check): it returns every problem Decode does, and a
// config that is never nil and holds only the parts without an error of
// their own, the components whose own values decoded and validated
// (in declaration order) and, when settingsOK, the settings. Settings with
// an error still hold their decoded values, so that components inherit
// settings.logs as they would. It is safe for concurrent use.
func DecodeValid(raw *Raw, env []string, overrides map[string]any) (cfg *Config, settingsOK bool, problems Problems) {
	d := &decoder{raw: raw}
	cfg = d.decode(env, overrides)
	d.problems.Sort()
	settingsOK = true
	type decl struct {
		name string
		line int
	}
	failed := map[decl]bool{}
	declared := map[decl]bool{}
	for _, rc := range raw.Components {
		declared[decl{rc.Name, rc.Line}] = true
	}
	for _, p := range d.problems.Errors() {
		at := decl{p.Component, p.Line}
		if p.Component == "" && !declared[at] {
			settingsOK = false
		}
		failed[at] = true
	}
	cfg.Components = slices.DeleteFunc(cfg.Components, func(c Component) bool {
		return failed[decl{c.Name, c.Line}]
	})
	return cfg, settingsOK, d.problems
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
	st.Plugins.Path = absIn(dir, st.Plugins.Path)
	return st
}

// decoder collects problems while one Raw is decoded.
type decoder struct {
	raw      *Raw
	problems Problems
	// sources names where a settings key's final value came from when that
	// was not thorp.lua: "THORP_HTTP" or "--set http=bad" (see
	// Problem.Source).
	sources map[string]string
	// funcs are the Lua functions met so far; a funcRef indexes it.
	funcs []Func
}

// funcRef stands for a Lua function while values pass through koanf, which
// deep-copies what it holds and so would lose a function's identity (and
// the script it is bound to); decodeHook turns it back into the function.
type funcRef int

func (d *decoder) add(line int, component, key, msg string, warning bool) {
	file := d.raw.Name
	if file == "" {
		file = d.raw.File
	}
	if component != "" {
		for _, rc := range d.raw.Components {
			if rc.Name == component {
				file = ProblemFile(file, rc.File)
				break
			}
		}
	}
	d.problems = append(d.problems, Problem{
		File: file, Line: line, Component: component, Key: key, Message: msg, Warning: warning,
	})
}

// fromSource adds a problem about a value that came from src (a THORP_*
// variable or a --set flag) instead of the file.
func (d *decoder) fromSource(src, key, msg string, warning bool) {
	d.add(0, "", key, msg, warning)
	d.problems[len(d.problems)-1].Source = src
}

// settingsError adds an error about settings key at line, or at the
// variable or flag its value came from.
func (d *decoder) settingsError(line int, key, msg string) {
	if src := d.sourceOf(key); src != "" {
		d.fromSource(src, key, msg, false)
		return
	}
	d.errorf(line, "", key, "%s", msg)
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
	cfg.Settings.Plugins.Path = absIn(cfg.Dir, cfg.Settings.Plugins.Path)
	d.validateSettings(&cfg.Settings)
	cfg.Profile = d.profile(env)

	defined := false
	for _, rc := range d.raw.Components {
		c := d.decodeComponent(rc, cfg.Settings.Logs)
		if p, ok := c.EnvProfiles[cfg.Profile]; ok {
			defined = true
			merged := make(map[string]string, len(c.Env)+len(p))
			maps.Copy(merged, c.Env)
			maps.Copy(merged, p)
			c.Env = merged
		}
		c.Cwd = absIn(cfg.Dir, c.Cwd)
		if c.Cwd == "" {
			c.Cwd = cfg.Dir
		}
		c.Logs.Dir = absIn(cfg.Dir, c.Logs.Dir)
		c.LogFile = absIn(cfg.Dir, c.LogFile)
		c.ErrorFile = absIn(cfg.Dir, c.ErrorFile)
		if c.Watch != nil {
			for i, p := range c.Watch.Paths {
				c.Watch.Paths[i] = absIn(c.Cwd, p)
			}
			c.Watch.Ignore = append(slices.Clip(DefaultWatchIgnore), c.Watch.Ignore...)
		}
		cfg.Components = append(cfg.Components, c)
	}
	d.validateComponents(cfg.Components)
	if len(d.raw.Components) == 0 {
		d.warnf(0, "", "", "no components declared; thorp will run and serve but supervise nothing")
	}
	if cfg.Profile != "" && !defined {
		d.warnf(0, "", "", "env profile %q (THORP_ENV or --env) is defined by no component: no component has an env_%s key, so every one runs with its env only; a misspelt profile name?", cfg.Profile, cfg.Profile)
	}
	return cfg
}

// ProfileEnv is the variable naming the active env profile; thorp run
// --env NAME sets it for the config it loads.
const ProfileEnv = "THORP_ENV"

// profileKey matches a component's env_<name> key; the name is group 1.
var profileKey = regexp.MustCompile(`^env_([A-Za-z0-9_-]+)$`)

// profile returns the active env profile: the last THORP_ENV in env, ""
// when unset or empty (an invalid name is an error).
func (d *decoder) profile(env []string) string {
	name := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, ProfileEnv+"="); ok {
			name = v
		}
	}
	if name != "" && !profileKey.MatchString("env_"+name) {
		d.fromSource(ProfileEnv, "", fmt.Sprintf("%q is not an env profile name: letters, digits, '_' or '-' (the env_<name> keys of components)", name), false)
		return ""
	}
	return name
}

// envProfiles takes the env_<name> keys out of values and decodes each
// like env; a key env_ with a bad name is left for dropUnknown to report.
func (d *decoder) envProfiles(values map[string]any, problem func(key, msg string)) map[string]map[string]string {
	var out map[string]map[string]string
	for _, k := range slices.Sorted(maps.Keys(values)) {
		m := profileKey.FindStringSubmatch(k)
		if m == nil {
			continue
		}
		v := values[k]
		delete(values, k)
		env, err := convert(envType, v)
		if err != nil {
			problem(k, err.Error()+` (a table of names and strings, like env: { NODE_ENV = "production" })`)
			continue
		}
		if out == nil {
			out = map[string]map[string]string{}
		}
		out[m[1]] = env.(map[string]string)
	}
	return out
}

// absIn makes p absolute against dir; "" stays "".
func absIn(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// load merges one layer into k; a provider that fails is a problem at line.
func (d *decoder) load(k *koanf.Koanf, p koanf.Provider, line int, component string) {
	if err := k.Load(p, nil); err != nil {
		d.errorf(line, component, "", "load config: %v", err)
	}
}

// values copies raw values for a koanf layer, each Func replaced by a
// funcRef, so that decoding changes neither the caller's Raw nor a function.
func (d *decoder) values(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = d.values(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = d.values(e)
		}
		return out
	case Func:
		d.funcs = append(d.funcs, x)
		return funcRef(len(d.funcs) - 1)
	}
	return v
}

// table is values for a table of keys; nil becomes an empty table.
func (d *decoder) table(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return d.values(m).(map[string]any)
}

// unmarshal decodes everything k holds into out, strictly, and returns one
// keyError per value that does not fit. Unknown keys never reach it:
// dropUnknown took them out of each layer, so that each is reported once,
// where it came from.
func (d *decoder) unmarshal(k *koanf.Koanf, out any) []keyError {
	err := k.UnmarshalWithConf("", out, koanf.UnmarshalConf{Tag: "koanf", DecoderConfig: &mapstructure.DecoderConfig{
		DecodeHook: mapstructure.DecodeHookFuncValue(d.decodeHook),
		TagName:    "koanf",
	}})
	if err != nil {
		return decodeErrors(err)
	}
	return nil
}

// decodeHook is the single mapstructure hook: it converts every value Lua,
// the environment or flags can produce into the field's type, strictly, and
// returns operator-facing messages as *valueError.
func (d *decoder) decodeHook(from, to reflect.Value) (any, error) {
	if !from.IsValid() {
		return nil, nil
	}
	v := from.Interface()
	if ref, ok := v.(funcRef); ok {
		v = d.funcs[ref]
	}
	switch to.Type() {
	case funcType:
		if f, ok := v.(Func); ok {
			return f, nil
		}
		return nil, &valueError{msg: expected("a Lua function", v).Error()}
	case healthPtrType:
		if _, ok := v.(map[string]any); !ok {
			return nil, &valueError{msg: expected(`a table { http = "…", interval = "5s", timeout = "1s", failures = 3 } or a Lua function`, v).Error()}
		}
		return v, nil
	case watchPtrType:
		if _, ok := v.(map[string]any); !ok {
			return nil, &valueError{msg: expected(`true, a list of paths or a table { paths = { "src" }, ignore = { "tmp" }, delay = "1s" }`, v).Error()}
		}
		return v, nil
	case proxyPtrType:
		if _, ok := v.(map[string]any); !ok {
			return nil, &valueError{msg: expected(`an address like "tcp://0.0.0.0:3000" or a table { listen = "tcp://0.0.0.0:3000", mode = "tcp", … }`, v).Error()}
		}
		return v, nil
	}
	c, err := convert(to.Type(), v)
	if err != nil {
		return nil, &valueError{msg: err.Error()}
	}
	return c, nil
}

// decodeSettings layers defaults, thorp.lua, THORP_* and flags (taking
// unknown keys out of each layer first) and decodes the result.
func (d *decoder) decodeSettings(environ []string, overrides map[string]any) Settings {
	line := d.raw.SettingsLine
	k := koanf.New(".")
	d.load(k, structs.Provider(Defaults(), "koanf"), line, "")
	if d.raw.Settings != nil {
		m := d.table(d.raw.Settings)
		for _, ke := range dropUnknown(m, settingsType, "") {
			d.errorf(line, "", ke.key, "%s", ke.msg)
		}
		d.load(k, confmap.Provider(m, ""), line, "")
	}
	d.load(k, envprovider.Provider(".", envprovider.Opt{
		Prefix:        "THORP_",
		TransformFunc: d.envSetting,
		EnvironFunc:   func() []string { return environ },
	}), 0, "")
	if len(overrides) > 0 {
		flags := map[string]string{}
		for key, v := range overrides {
			flags[key] = "--set " + key + "=" + flagValue(key, v)
		}
		m := kmaps.Unflatten(d.table(overrides), ".")
		for _, ke := range dropUnknown(m, settingsType, "") {
			d.fromSource(flagFor(flags, ke.key), ke.key, ke.msg, false)
		}
		flat, _ := kmaps.Flatten(m, nil, ".")
		for key := range flat {
			d.source(key, flagFor(flags, key))
		}
		d.load(k, confmap.Provider(m, ""), 0, "")
	}

	d.execForm(k, line)
	var s Settings
	for _, ke := range d.unmarshal(k, &s) {
		d.settingsError(line, ke.key, ke.msg)
	}
	return s
}

// flagValue renders a --set value as the operator typed it, except a
// token's, which a problem never echoes.
func flagValue(key string, v any) string {
	if key == "token" {
		return "…"
	}
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// flagFor returns the --set flag that set key, or one that set a key
// under it ("logs" for --set logs.x=1); flags maps each flag's key to
// its text.
func flagFor(flags map[string]string, key string) string {
	if f, ok := flags[key]; ok {
		return f
	}
	for _, k := range slices.Sorted(maps.Keys(flags)) {
		if strings.HasPrefix(k, key+".") || strings.HasPrefix(key, k+".") {
			return flags[k]
		}
	}
	return "--set " + key
}

func (d *decoder) source(key, src string) {
	if d.sources == nil {
		d.sources = map[string]string{}
	}
	d.sources[key] = src
}

// sourceOf returns where settings key's value came from when that was
// not the file ("" when it was): the variable or flag that set key or,
// for a table like metrics_push.labels, a key under it.
func (d *decoder) sourceOf(key string) string {
	if src := d.sources[key]; src != "" {
		return src
	}
	for _, k := range slices.Sorted(maps.Keys(d.sources)) {
		if strings.HasPrefix(k, key+".") {
			return d.sources[k]
		}
	}
	return ""
}

// envSetting is the env provider's callback: it turns THORP_<KEY>=value
// into the dotted settings key and a value typed for it, or "" to skip the
// variable (with a warning when it names no setting, an error when its
// value does not parse). THORP_CONFIG, THORP_INSTANCE and THORP_ENV are not settings.
func (d *decoder) envSetting(name, val string) (string, any) {
	if name == "THORP_CONFIG" || name == "THORP_INSTANCE" || name == ProfileEnv {
		return "", nil
	}
	path := strings.Split(strings.ToLower(strings.TrimPrefix(name, "THORP_")), "__")
	t, ok := settingsLeaf(path)
	if !ok {
		d.fromSource(name, "", "this environment variable is not a thorp setting; ignored", true)
		return "", nil
	}
	key := strings.Join(path, ".")
	v, err := envValue(t, val)
	if err != nil {
		d.fromSource(name, key, fmt.Sprintf("%v, got %q", err, val), false)
		return "", nil
	}
	d.source(key, name)
	return key, v
}

// settingsLeaf returns the type of the settings value at path, which must end
// at a leaf (or an entry of a name = value table).
func settingsLeaf(path []string) (reflect.Type, bool) {
	t := settingsType
	for i, p := range path {
		if p == "" {
			return nil, false
		}
		if st, ok := section(t); ok {
			f, ok := tagFields(st)[p]
			if !ok {
				return nil, false
			}
			t = f.Type
			continue
		}
		if t.Kind() == reflect.Map && i == len(path)-1 {
			return t.Elem(), true
		}
		return nil, false
	}
	if _, ok := section(t); ok || t.Kind() == reflect.Map {
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
		out := []any{}
		for _, part := range strings.Split(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
		return out, nil
	}
	return s, nil
}

// decodeComponent layers the component defaults (with logs inherited from
// settings) under rc.Values and decodes the result. ready, and health when
// it is a function, take a Lua function as well as plain values and are
// decoded by hand. A proxy string is the short form of { listen = … };
// instances = "max" is the host's CPU count, read now (at start or reload).
func (d *decoder) decodeComponent(rc RawComponent, logs LogSettings) Component {
	problem := func(key, msg string) { d.errorf(rc.Line, rc.Name, key, "%s", msg) }
	values := d.table(rc.Values)
	if listen, ok := values["proxy"].(string); ok {
		values["proxy"] = map[string]any{"listen": listen}
	}
	switch w := values["watch"].(type) {
	case bool:
		// watch = true watches the cwd; false is no watch.
		delete(values, "watch")
		if w {
			values["watch"] = map[string]any{}
		}
	case string:
		values["watch"] = map[string]any{"paths": []any{w}}
	case []any:
		values["watch"] = map[string]any{"paths": w}
	}
	if s, ok := values["instances"].(string); ok {
		delete(values, "instances")
		if s == InstancesMax {
			values["instances"] = min(runtime.NumCPU(), MaxInstances)
		} else {
			problem("instances", expected(`a whole number or "max" (one per CPU)`, s).Error())
		}
	}
	profiles := d.envProfiles(values, problem)
	for _, ke := range dropUnknown(values, componentType, "", "ready") {
		problem(ke.key, ke.msg)
	}
	if b, ok := values["autorestart"].(bool); ok {
		values["autorestart"] = AutorestartNever
		if b {
			values["autorestart"] = AutorestartAlways
		}
	}
	ready, hasReady := rc.Values["ready"]
	delete(values, "ready")
	healthFunc, _ := rc.Values["health"].(Func)
	if healthFunc != nil {
		delete(values, "health")
	}

	def := DefaultComponent()
	def.Logs = logs
	var c Component
	k := koanf.New(".")
	d.load(k, structs.Provider(def, "koanf"), rc.Line, rc.Name)
	if _, ok := values["health"].(map[string]any); ok {
		// A health table is layered over the health defaults and decoded
		// in place, so a value that fails leaves the others checkable.
		d.load(k, structs.Provider(struct {
			Health Health `koanf:"health"`
		}{DefaultHealth()}, "koanf"), rc.Line, rc.Name)
		c.Health = &Health{}
	}
	if _, ok := values["proxy"].(map[string]any); ok {
		// The same for a proxy table over the proxy defaults.
		d.load(k, structs.Provider(struct {
			Proxy Proxy `koanf:"proxy"`
		}{DefaultProxy()}, "koanf"), rc.Line, rc.Name)
		c.Proxy = &Proxy{}
	}
	if _, ok := values["watch"].(map[string]any); ok {
		// And for a watch table over the watch defaults.
		d.load(k, structs.Provider(struct {
			Watch Watch `koanf:"watch"`
		}{DefaultWatch()}, "koanf"), rc.Line, rc.Name)
		c.Watch = &Watch{}
	}
	d.load(k, confmap.Provider(values, ""), rc.Line, rc.Name)
	for _, ke := range d.unmarshal(k, &c) {
		problem(ke.key, ke.msg)
	}
	c.Name, c.Line, c.File = rc.Name, rc.Line, rc.File
	c.Ready = def.Ready
	c.EnvProfiles = profiles
	if text, ok := values["max_memory_restart"].(string); ok {
		c.MaxMemoryRestartText = text
	}

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
	if healthFunc != nil {
		h := DefaultHealth()
		h.Func = healthFunc
		c.Health = &h
	}
	if hasCommand := rc.Values["command"] != nil; !hasCommand {
		problem("command", `is required: give a list like { "node", "app.js" } or a shell command string`)
	}
	d.validateComponent(&c, rc)
	return c
}
