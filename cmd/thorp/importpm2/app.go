package importpm2

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/robfig/cron/v3"

	"github.com/thorp-dev/thorp/engine/config"
)

// converter carries what one conversion has seen so far.
type converter struct {
	dump     bool
	hostEnv  map[string]string // the importing shell's environment (dump.pm2 repeats PM2's)
	entries  map[string]int    // dump.pm2 entries per PM2 name: one per running instance
	profiles []string          // env profile names set, sorted
	used     map[string]bool   // component names given out
	seen     map[string]bool   // PM2 names already converted (dump.pm2 lists each cluster worker)
	notes    []string
}

func (c *converter) note(app, format string, args ...any) {
	c.notes = append(c.notes, "app "+app+": "+fmt.Sprintf(format, args...))
}

// aliases maps PM2's alternative key names (and dump.pm2's pm_* fields) to
// the ecosystem key they stand for.
var aliases = map[string]string{
	"exec": "script", "cmd": "script", "command": "script", "pm_exec_path": "script",
	"exec_interpreter": "interpreter", "interpreter_args": "node_args",
	"output": "out_file", "out": "out_file", "out_log": "out_file", "pm_out_log_path": "out_file",
	"error": "error_file", "err": "error_file", "err_file": "error_file", "err_log": "error_file", "pm_err_log_path": "error_file",
	"log": "log_file", "pm_log_path": "log_file",
	"cron": "cron_restart", "combine_logs": "merge_logs",
	"user": "uid", "pm_cwd": "cwd", "pid_file": "pid", "pm_pid_path": "pid",
}

// runtimeKeys are dump.pm2 fields that describe the running process, not its
// configuration; they are dropped without a comment.
var runtimeKeys = map[string]bool{
	"pm_id": true, "pid": true, "monit": true, "status": true, "restart_time": true,
	"unstable_restarts": true, "created_at": true, "pm_uptime": true, "versioning": true,
	"vizion_running": true, "km_link": true, "exit_code": true, "unique_id": true,
	"node_version": true, "prev_restart_delay": true, "username": true, "version": true,
	"instance_id": true, "pmx_module": true, "_pm2_version": true, "env": true,
	"axm_actions": true, "axm_monitor": true, "axm_options": true, "axm_dynamic": true,
}

// pm2Defaults are keys whose value, when it is PM2's default, changes nothing
// worth carrying over; any other value gets a comment.
var pm2Defaults = map[string]string{
	"treekill": "true", "vizion": "true", "pmx": "true", "automation": "true", "autostart": "true",
	"windows_hide": "true", "instance_var": `"NODE_APP_INSTANCE"`, "namespace": `"default"`,
	"filter_env": "[]", "source_map_support": "true", "disable_source_map_support": "false",
	"trace": "false", "disable_trace": "true", "force": "false", "append_env_to_name": "false",
	"shutdown_with_message": "false", "kill_retry_time": "100", "time": "false", "disable_logs": "false",
	"wait_ready": "false", "exec_mode": `"fork_mode"`, "log_type": `"raw"`, "merge_logs": "false",
	"io": "false", "event_loop_inspector": "false", "deep_monitoring": "false", "v8": "false",
}

// interpreters picks the interpreter by the script's extension, as PM2 does
// (lib/API/interpreter.json).
var interpreters = map[string]string{
	".js": "node", ".cjs": "node", ".mjs": "node", ".py": "python3", ".sh": "bash",
	".rb": "ruby", ".php": "php", ".pl": "perl", ".ts": "bun", ".coffee": "coffee",
}

// canonical turns a PM2 key (snake or camel case, or an alias) into its
// snake_case ecosystem name.
func canonical(k string) string {
	if strings.HasPrefix(k, "env_") {
		return k // an env profile: its name is the user's
	}
	if strings.IndexFunc(k, unicode.IsLower) >= 0 {
		var b strings.Builder
		rs := []rune(k)
		for i, r := range rs {
			if unicode.IsUpper(r) && i > 0 && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1])) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
		}
		k = b.String()
	}
	if a, ok := aliases[k]; ok {
		return a
	}
	return k
}

var envNameRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// normalise maps an app's keys to canonical names; where a key and its alias
// are both set, the canonical spelling wins and the alias gets a comment.
func (c *converter) normalise(app map[string]any) (map[string]any, map[string]any) {
	out := map[string]any{}
	leftover := map[string]any{}
	for _, k := range slices.Sorted(maps.Keys(app)) {
		ck := canonical(k)
		if prev, dup := out[ck]; dup && jsonText(prev) == jsonText(app[k]) {
			continue // dump.pm2 has cwd and pm_cwd alike
		} else if dup {
			if ck == k { // the canonical spelling replaces an alias seen first
				leftover[ck+"(alias)"] = out[ck]
				out[ck] = app[k]
			} else {
				leftover[k] = app[k]
			}
			continue
		}
		out[ck] = app[k]
	}
	return out, leftover
}

// app converts one PM2 app; it returns nil for a dump.pm2 entry that repeats
// an app already converted (one entry per cluster worker).
func (c *converter) app(raw map[string]any, index int) *component {
	env, _ := raw["env"].(map[string]any)
	m, leftover := c.normalise(raw)

	pm2Name, _ := m["name"].(string)
	script := stringOf(m["script"])
	if pm2Name == "" {
		base := filepath.Base(strings.Fields(script + " app")[0])
		pm2Name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	if c.dump {
		if c.seen[pm2Name] {
			return nil
		}
		c.seen[pm2Name] = true
	}
	name := c.uniqueName(pm2Name)
	comp := &component{name: name}
	if name != pm2Name {
		comp.comments = append(comp.comments, fmt.Sprintf("pm2 name %s (thorp names are letters, digits, '_' and '-', unique)", jsonText(pm2Name)))
		c.note(name, "renamed from PM2's %s", jsonText(pm2Name))
	}
	if st := stringOf(m["status"]); c.dump && (st == "stopped" || st == "errored") {
		comp.comments = append(comp.comments, fmt.Sprintf("pm2 status was %q when the list was saved; thorp will start it", st))
	}
	done := map[string]bool{"name": true}
	use := func(keys ...string) {
		for _, k := range keys {
			done[k] = true
		}
	}

	c.command(comp, m, use)
	if cwd := stringOf(m["cwd"]); cwd != "" {
		comp.set("cwd", luaString(cwd), "")
	}
	use("cwd")
	cluster := c.clusterMode(m)
	port := c.env(comp, m, env, cluster, use)
	if u := stringOf(m["uid"]); u != "" {
		comp.set("user", luaString(u), "")
	}
	if g := stringOf(m["gid"]); g != "" {
		comp.set("group", luaString(g), "")
	}
	use("uid", "gid")
	if b, isBool := boolOf(m["autostart"]); isBool && !b {
		comp.set("autostart", "false", "pm2 autostart = false: defined, started by `thorp start "+name+"`")
		use("autostart")
	}
	c.restarts(comp, m, use)
	c.memory(comp, m, use)
	c.readiness(comp, m, cluster, use)
	c.instances(comp, m, use)
	if cluster {
		c.proxy(comp, port)
	}
	c.logs(comp, m, use)

	// Keys with no equivalent: silent when they are PM2's default or
	// dump.pm2's runtime state, a comment otherwise.
	var unknown []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if done[k] {
			continue
		}
		v := m[k]
		if def, ok := pm2Defaults[k]; ok && jsonText(v) == def {
			continue
		}
		if c.dump {
			if runtimeKeys[k] || strings.HasPrefix(k, "axm_") {
				continue
			}
			if _, isEnv := env[k]; isEnv || envNameRE.MatchString(k) {
				continue // dump.pm2 repeats the environment as top-level keys
			}
		}
		if k == "env" {
			continue // not an object: nothing to carry
		}
		unknown = append(unknown, k)
		comp.comment("", unknownComment(k, v))
	}
	for _, k := range slices.Sorted(maps.Keys(leftover)) {
		unknown = append(unknown, k)
		comp.comment("", fmt.Sprintf("pm2 key %s repeats a key set under another name; ignored: %s", jsonText(k), jsonText(leftover[k])))
	}
	if len(unknown) > 0 {
		c.note(name, "%d pm2 key(s) with no thorp equivalent kept as comments: %s", len(unknown), strings.Join(unknown, ", "))
	}
	return comp
}

// unknownComment explains a PM2 key thorp has no equivalent for.
func unknownComment(k string, v any) string {
	switch k {
	case "shutdown_with_message":
		return "pm2 shutdown_with_message: thorp stops with stop_signal, it has no IPC channel to the process"
	case "pid":
		return fmt.Sprintf("pm2 pid_file %s: thorp writes no pid files; `thorp status --json` has the pid", jsonText(v))
	case "namespace":
		return fmt.Sprintf("pm2 namespace %s: thorp has no namespaces; one thorp.lua is one group", jsonText(v))
	case "port":
		return fmt.Sprintf("pm2 port %s: set as PORT in env", jsonText(v))
	}
	return fmt.Sprintf("pm2 key %s has no thorp equivalent: %s", jsonText(k), jsonText(v))
}

var nameBadRE = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// uniqueName sanitises a PM2 name into a thorp component name and makes it
// unique among the names given out so far.
func (c *converter) uniqueName(pm2Name string) string {
	n := nameBadRE.ReplaceAllString(pm2Name, "-")
	n = strings.TrimLeft(n, "-_")
	if len(n) > 63 {
		n = n[:63]
	}
	if n == "" {
		n = "app"
	}
	base := n
	for i := 2; c.used[n]; i++ {
		suffix := "-" + strconv.Itoa(i)
		b := base
		if len(b)+len(suffix) > 63 {
			b = b[:63-len(suffix)]
		}
		n = b + suffix
	}
	c.used[n] = true
	return n
}

// command builds argv from script, interpreter, node_args and args.
func (c *converter) command(comp *component, m map[string]any, use func(...string)) {
	use("script", "interpreter", "node_args", "args")
	script := stringOf(m["script"])
	if script == "" {
		comp.set("command", luaString("false"), "pm2 app has no script: fill in the command")
		c.note(comp.name, "no script; the command is a placeholder that fails")
		return
	}
	interp := stringOf(m["interpreter"])
	explicit := interp != ""
	if v, ok := strings.CutPrefix(interp, "node@"); ok {
		// PM2 ran the node of that version that nvm installed.
		interp = "node"
		comp.comment("command", fmt.Sprintf("pm2 interpreter \"node@%s\" ran node %s as nvm installed it (~/.nvm/versions/node/v%s/bin/node);", v, v, strings.TrimPrefix(v, "v")),
			"thorp runs the node on its PATH: write that path in place of \"node\" to keep the version")
		c.note(comp.name, "interpreter \"node@%s\" became the node on PATH; see the comment on command", v)
	}
	if !explicit {
		interp = interpreters[strings.ToLower(filepath.Ext(script))]
	}
	nodeArgs := words(m["node_args"], false)
	args := words(m["args"], true)

	if strings.ContainsAny(script, " \t") && (!explicit || interp == "none" || interp == "bash" || interp == "sh") {
		// PM2 runs a script containing a space with bash -c.
		cmd := script
		for _, a := range args {
			cmd += " " + shellQuote(a)
		}
		comp.set("command", luaString(cmd), "run with /bin/sh -c, as PM2 ran it with bash -c")
		if len(nodeArgs) > 0 {
			comp.comment("command", fmt.Sprintf("pm2 node_args %s dropped: the command runs with /bin/sh -c, not an interpreter (NODE_OPTIONS in env can carry them to node)", jsonText(nodeArgs)))
			c.note(comp.name, "node_args %s dropped (the script is a shell command); see the comment", jsonText(nodeArgs))
		}
		return
	}
	var argv []string
	if interp != "" && interp != "none" {
		argv = append(argv, interp)
		argv = append(argv, nodeArgs...)
	} else if len(nodeArgs) > 0 {
		comp.comment("command", fmt.Sprintf("pm2 node_args %s dropped: the script runs without an interpreter", jsonText(nodeArgs)))
	}
	argv = append(argv, script)
	argv = append(argv, args...)
	comp.set("command", luaStrings(argv), "")
	if !explicit && interp == "" && filepath.Ext(script) == "" && strings.Contains(script, "/") && !filepath.IsAbs(script) {
		comp.comment("command", fmt.Sprintf("pm2 ran %s with node unless it is a binary; thorp runs it as it is:", jsonText(script)),
			fmt.Sprintf("if it is JavaScript without a #! line (like Express's bin/www), write command = %s", luaStrings(append([]string{"node"}, argv...))))
		c.note(comp.name, "script %s has no extension: PM2 ran it with node unless it is a binary; see the comment on command", jsonText(script))
	}
	if strings.HasPrefix(filepath.Base(interp), "python") {
		if env, _ := m["env"].(map[string]any); env["PYTHONUNBUFFERED"] == nil {
			m["python_unbuffered"] = true // picked up by env
		}
	}
}

// env converts env and the env_<name> blocks PM2 merges over it with
// `--env <name>`, which become thorp's env profiles of the same names. For a
// cluster-mode app PORT is left out: thorp sets it for each process, and the
// app's port becomes the proxy's. It returns that PORT: from env or pm2's
// port key, else the first one an env_<name> profile sets.
func (c *converter) env(comp *component, m map[string]any, rawEnv map[string]any, cluster bool, use func(...string)) (port appPort) {
	use("env", "python_unbuffered", "port")
	out := map[string]string{}
	var dropped int
	for k, v := range rawEnv {
		s, ok := envValue(v)
		if !ok {
			continue
		}
		if hv, inShell := c.hostEnv[k]; c.dump && (shellVar(k) || inShell && hv == s || k == stringOf(m["name"])) {
			dropped++ // PM2's own entry for the app is named after it
			continue
		}
		out[k] = s
	}
	var comments []string
	if c.dump && dropped > 0 {
		comments = append(comments, fmt.Sprintf("dump.pm2 records the whole environment PM2 started with; %d variables of the login shell (PATH, HOME, PM2_*…) or equal to this shell's were left out, thorp passes its own", dropped))
	}
	if p, ok := m["port"]; ok {
		if _, set := out["PORT"]; !set {
			if s, ok := envValue(p); ok {
				out["PORT"] = s
				comments = append(comments, "PORT comes from pm2's port key")
			}
		}
	}
	if m["python_unbuffered"] == true {
		out["PYTHONUNBUFFERED"] = "1"
		comments = append(comments, "PYTHONUNBUFFERED=1 is what PM2 sets for Python scripts")
	}
	if p, ok := out["PORT"]; ok && cluster {
		port = appPort{value: p}
		delete(out, "PORT")
		comments = append(comments, fmt.Sprintf("pm2 PORT = %s is the proxy's port (see proxy): thorp sets PORT for each process", jsonText(p)))
	}
	if len(out) > 0 || len(comments) > 0 {
		comp.set("env", luaStringMap(out), "", comments...)
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !strings.HasPrefix(k, "env_") {
			continue
		}
		use(k)
		alt, ok := m[k].(map[string]any)
		if !ok || !profileRE.MatchString(k) {
			comp.comment("env", unknownComment(k, m[k]))
			continue
		}
		vals := map[string]string{}
		var comments []string
		for _, ek := range slices.Sorted(maps.Keys(alt)) {
			s, ok := envValue(alt[ek])
			switch {
			case !ok:
			case ek == "PORT" && cluster:
				comments = append(comments, fmt.Sprintf("pm2 %s sets PORT = %s, left out: thorp sets PORT for each process and the port is proxy's listen address", k, jsonText(s)))
				if port.value == "" {
					port.value, port.profile = s, k
				}
				if tcpPort(s) {
					port.profiles = append(port.profiles, [2]string{strings.TrimPrefix(k, "env_"), s})
				}
			default:
				vals[ek] = s
			}
		}
		comp.set(luaKey(k), luaStringMap(vals), "", comments...)
		c.addProfile(strings.TrimPrefix(k, "env_"))
	}
	return port
}

// profileRE is an env profile key thorp accepts.
var profileRE = regexp.MustCompile(`^env_[A-Za-z0-9_-]+$`)

func (c *converter) addProfile(name string) {
	if i, found := slices.BinarySearch(c.profiles, name); !found {
		c.profiles = slices.Insert(c.profiles, i, name)
	}
}

// appPort is the PORT a PM2 app's environment sets, and where: profile is
// "" for env (or pm2's port key), else the env_<name> that sets it.
// profiles are the env profiles that set a PORT of their own, sorted by
// name: {name, port}.
type appPort struct {
	value, profile string
	profiles       [][2]string
}

// tcpPort reports whether s is a TCP port number.
func tcpPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n > 0 && n < 1<<16
}

// shellVar reports whether an environment variable in dump.pm2 comes from
// the shell PM2 was started in rather than from the app's configuration.
func shellVar(k string) bool {
	switch k {
	case "PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD", "OLDPWD", "SHLVL", "TERM", "LANG", "LANGUAGE",
		"MAIL", "HOSTNAME", "EDITOR", "PAGER", "LS_COLORS", "COLORTERM", "DISPLAY", "TMUX", "TMPDIR", "_",
		"MOTD_SHOWN", "NODE_APP_INSTANCE", "pm_id", "name", "unique_id", "namespace", "DBUS_SESSION_BUS_ADDRESS":
		return true
	}
	for _, p := range []string{"PM2_", "npm_", "LC_", "XDG_", "SSH_", "TERM_", "NVM_", "GIT_"} {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// restarts converts the restart policy keys.
func (c *converter) restarts(comp *component, m map[string]any, use func(...string)) {
	use("autorestart", "restart_delay", "exp_backoff_restart_delay", "min_uptime", "max_restarts",
		"stop_exit_codes", "kill_timeout")
	if v, ok := m["autorestart"]; ok {
		switch b, isBool := boolOf(v); {
		case isBool && b:
			comp.set("autorestart", luaString("always"), "")
		case isBool:
			comp.set("autorestart", luaString("never"), "")
		default:
			comp.comment("autorestart", unknownComment("autorestart", v))
		}
	}
	c.duration(comp, m, "restart_delay", "restart_delay", true)
	if v, ok := m["exp_backoff_restart_delay"]; ok {
		d, valid := msDuration(v)
		comments := []string{
			fmt.Sprintf("pm2 exp_backoff_restart_delay = %s: PM2 starts at that delay and grows it 1.5x per crash up to 15s.", jsonText(v)),
			"thorp doubles restart_delay while runs are shorter than min_uptime, up to exp_backoff_max.",
		}
		if valid && !comp.has("restart_delay") {
			comp.set("restart_delay", luaString(d), "from pm2 exp_backoff_restart_delay (its first delay)")
		}
		comp.set("exp_backoff_max", luaString("15s"), "PM2's cap", comments...)
	}
	c.duration(comp, m, "min_uptime", "min_uptime", true)
	if v, ok := m["max_restarts"]; ok {
		if n, ok := intOf(v); ok && n >= 0 {
			comp.set("max_restarts", strconv.Itoa(n), "")
		} else {
			comp.comment("max_restarts", unknownComment("max_restarts", v))
		}
	}
	if v, ok := m["stop_exit_codes"]; ok {
		list, isList := v.([]any)
		if !isList {
			list = []any{v}
		}
		var codes []string
		for _, e := range list {
			if n, ok := intOf(e); ok && n >= 0 && n <= 255 {
				codes = append(codes, strconv.Itoa(n))
			} else {
				codes = nil
				break
			}
		}
		if codes != nil {
			comp.set("stop_exit_codes", "{ "+strings.Join(codes, ", ")+" }", "")
		} else {
			comp.comment("stop_exit_codes", unknownComment("stop_exit_codes", v))
		}
	}
	comp.set("stop_signal", luaString("SIGINT"), "PM2 stops apps with SIGINT (PM2_KILL_SIGNAL); thorp's default is SIGTERM")
	c.duration(comp, m, "kill_timeout", "kill_timeout", false)
}

// duration converts a PM2 millisecond value (or "30s"-style string) at key
// into the thorp key to; zeroOK says whether 0 is a valid thorp value.
func (c *converter) duration(comp *component, m map[string]any, key, to string, zeroOK bool) {
	v, ok := m[key]
	if !ok {
		return
	}
	d, valid := msDuration(v)
	if valid && (zeroOK || d != "0s") {
		comp.set(to, luaString(d), "")
		return
	}
	comp.comment(to, unknownComment(key, v))
	c.note(comp.name, "%s %s could not be converted; see the comment", key, jsonText(v))
}

var pm2SizeRE = regexp.MustCompile(`^(?i)(\d+(?:\.\d+)?)\s*([KMG])?B?$`)

// memory converts max_memory_restart. PM2's K/M/G are powers of 1024, as are
// thorp's one-letter units, so "150M" keeps its meaning.
func (c *converter) memory(comp *component, m map[string]any, use func(...string)) {
	use("max_memory_restart")
	v, ok := m["max_memory_restart"]
	if !ok {
		return
	}
	if n, ok := intOf(v); ok && n > 0 {
		// dump.pm2 has bytes; PM2's (and thorp's) K, M and G are powers of 1024.
		switch {
		case n%(1<<30) == 0:
			comp.set("max_memory_restart", luaString(strconv.Itoa(n>>30)+"G"), "")
		case n%(1<<20) == 0:
			comp.set("max_memory_restart", luaString(strconv.Itoa(n>>20)+"M"), "")
		default:
			comp.set("max_memory_restart", strconv.Itoa(n), "bytes")
		}
		return
	}
	s := strings.TrimSpace(stringOf(v))
	if sm := pm2SizeRE.FindStringSubmatch(s); sm != nil {
		out := sm[1] + strings.ToUpper(sm[2])
		if _, err := config.ParseSize(out); err == nil {
			comp.set("max_memory_restart", luaString(out), "")
			return
		}
	}
	comp.comment("max_memory_restart", unknownComment("max_memory_restart", v))
	c.note(comp.name, "max_memory_restart %s is not a size; see the comment", jsonText(v))
}

// readiness converts wait_ready and listen_timeout. A cluster-mode app
// gets a proxy, whose processes are ready once their $PORT accepts a
// connection: what wait_ready was mostly for.
func (c *converter) readiness(comp *component, m map[string]any, cluster bool, use func(...string)) {
	use("wait_ready", "listen_timeout")
	b, _ := boolOf(m["wait_ready"])
	switch {
	case b && cluster:
		comp.comment("ready",
			`pm2 wait_ready: PM2 waited for process.send("ready"), which thorp cannot see;`,
			`with proxy, a process is ready (and gets traffic) once its $PORT accepts a connection.`)
	case b:
		comp.comment("ready",
			`pm2 wait_ready: PM2 waited for process.send("ready"), which thorp cannot see. Pick one:`,
			`ready = "http://127.0.0.1:PORT/health", -- a GET answering below 400`,
			`ready = "tcp://127.0.0.1:PORT",         -- a connection succeeds`,
			`ready = "notify",                       -- the app sends READY=1 to $NOTIFY_SOCKET (sd_notify)`)
		c.note(comp.name, "wait_ready has no thorp equivalent; see the comment on ready")
	}
	c.duration(comp, m, "listen_timeout", "listen_timeout", false)
}

// clusterMode reports whether PM2 ran the app in cluster mode: exec_mode
// says so, or (in an ecosystem file, where PM2 decides when it starts) the
// app is a node script with instances other than 1.
func (c *converter) clusterMode(m map[string]any) bool {
	switch stringOf(m["exec_mode"]) {
	case "cluster", "cluster_mode":
		return true
	case "":
	default:
		return false
	}
	v, ok := m["instances"]
	if !ok || c.dump {
		return false
	}
	if n, isInt := intOf(v); isInt && n == 1 {
		return false
	}
	interp := stringOf(m["interpreter"])
	return (interp == "" || interp == "node") && interpreters[strings.ToLower(filepath.Ext(stringOf(m["script"])))] == "node"
}

// instances converts instances and exec_mode.
func (c *converter) instances(comp *component, m map[string]any, use func(...string)) {
	use("instances", "exec_mode")
	if n := c.entries[stringOf(m["name"])]; c.dump && n > 1 && m["instances"] == nil {
		comp.set("instances", strconv.Itoa(n), "dump.pm2 lists this many processes of it")
	}
	if v, ok := m["instances"]; ok {
		n, isInt := intOf(v)
		s := strings.ToLower(stringOf(v))
		switch {
		case s == "max" || (isInt && n == 0):
			comp.set("instances", luaString("max"), fmt.Sprintf("pm2 %s: one per CPU, counted when thorp starts", jsonText(v)))
		case isInt && n < 0:
			comp.set("instances", luaString("max"), fmt.Sprintf("pm2 %d: one per CPU, counted when thorp starts", n),
				fmt.Sprintf("pm2 instances = %d left %d CPU(s) spare; \"max\" leaves none: write a number to keep them", n, -n))
			c.note(comp.name, "instances %d became \"max\" (one per CPU where thorp runs, %d more than PM2 ran); see the comment", n, -n)
		case isInt:
			comp.set("instances", strconv.Itoa(n), "")
		default:
			comp.comment("instances", unknownComment("instances", v))
		}
	}
	if mode := stringOf(m["exec_mode"]); mode != "" && mode != "fork" && mode != "fork_mode" && mode != "cluster" && mode != "cluster_mode" {
		comp.comment("instances", unknownComment("exec_mode", mode))
	}
}

// proxy maps PM2's cluster mode, where the instances share the app's port,
// to thorp's balancer: thorp listens on that port and gives each process
// its own in $PORT.
//
// Without a PORT in env the address clients use is unknown (a profile's
// PORT is not applied, as the rest of the profile is not), and a guess would
// either fail `thorp check` or listen where nobody connects, so the proxy is
// written commented out with a note naming the key to set; until it is set
// the instances all bind one port, as they tried to under PM2.
func (c *converter) proxy(comp *component, port appPort) {
	const how = "pm2 cluster mode: thorp's balancer listens on the app's port and hands each connection to the instance with the fewest; each process listens on its own free port, given in $PORT."
	valid := tcpPort(port.value)
	if valid && port.profile == "" {
		listen := luaString("tcp://0.0.0.0:" + port.value)
		comments := []string{how, "The app must listen on process.env.PORT; thorp restarts and reloads it one instance at a time, draining each."}
		if len(port.profiles) > 0 {
			// pm2 start --env NAME listened on that profile's PORT: so
			// does the proxy under thorp run --env NAME.
			var byProfile, names []string
			for _, p := range port.profiles {
				byProfile = append(byProfile, luaKey(p[0])+" = "+luaString("tcp://0.0.0.0:"+p[1]))
				names = append(names, "env_"+p[0])
			}
			listen = "({ " + strings.Join(byProfile, ", ") + " })[thorp.profile] or " + listen
			comments = append(comments, fmt.Sprintf("pm2 %s set PORT too: the proxy listens on the active env profile's (thorp.profile), else on env's.", strings.Join(names, ", ")))
		}
		comp.set("proxy", fmt.Sprintf(`{ listen = %s, port_env = "PORT" }`, listen), "", comments...)
		c.note(comp.name, "cluster mode became proxy on port %s: the app must listen on $PORT, which thorp sets for each process", port.value)
		return
	}
	listen := "tcp://0.0.0.0:3000"
	var why string
	switch {
	case port.value == "":
		why = "The app's env sets no PORT, so the address clients connect to is unknown:"
	case port.profile != "":
		why = fmt.Sprintf("The app's env sets no PORT (pm2 %s sets %s):", port.profile, jsonText(port.value))
		if valid {
			listen = "tcp://0.0.0.0:" + port.value
		}
	default:
		why = fmt.Sprintf("The app's PORT %s is not a TCP port:", jsonText(port.value))
	}
	comp.comment("proxy", how, why+" set proxy's listen address, uncomment it, and have the app listen on process.env.PORT.",
		fmt.Sprintf(`proxy = { listen = %s, port_env = "PORT" },`, luaString(listen)))
	c.note(comp.name, "cluster mode without a PORT in env: set proxy (see the comment), or the instances all bind one port")
}

// logs converts PM2's log keys by their meaning: out_file (stdout) is
// thorp's log_file, error_file is error_file; PM2's log_file is a third
// file with both streams, which thorp writes only when it is the one file
// the app names (thorp keeps stdout and stderr apart otherwise, and `thorp
// logs` shows both merged by time); time and log_date_format put a time on
// each line. It also converts cron_restart and the watch keys.
func (c *converter) logs(comp *component, m map[string]any, use func(...string)) {
	use("out_file", "error_file", "log_file", "merge_logs", "time", "log_date_format", "cron_restart")
	if v, ok := m["cron_restart"]; ok {
		c.cron(comp, v)
	}
	c.watch(comp, m, use)
	out, errf := stringOf(m["out_file"]), stringOf(m["error_file"])
	combined, combinedOn := m["log_file"], false
	if b, isBool := boolOf(combined); isBool {
		combined, combinedOn = "", b
	}
	comb := stringOf(combined)
	if merged, _ := boolOf(m["merge_logs"]); c.dump && !merged {
		// Without merge_logs PM2 gives each process its own files, its
		// pm_id before ".log"; thorp writes the app's processes to one.
		out, errf, comb = unsuffixed(out), unsuffixed(errf), unsuffixed(comb)
	}
	// dump.pm2 names PM2's own files in full, under its PM2_HOME.
	pm2Home, _ := m["PM2_HOME"].(string)
	if env, _ := m["env"].(map[string]any); pm2Home == "" && env != nil {
		pm2Home, _ = env["PM2_HOME"].(string)
	}
	inPM2Dir := func(p string) bool {
		return strings.Contains(p, "/.pm2/logs/") || strings.HasPrefix(p, "~/.pm2/") ||
			pm2Home != "" && strings.HasPrefix(p, strings.TrimSuffix(pm2Home, "/")+"/logs/")
	}
	ownPath := func(p string) bool { return p != "" && p != "/dev/null" && !inPM2Dir(p) }
	logPath := func(key, to, p string) {
		switch {
		case p == "":
		case p == "/dev/null":
			comp.comment(to, fmt.Sprintf("pm2 %s = /dev/null discarded the output; thorp always keeps logs (bound them with logs = { max_size = …, retain_files = … })", key))
		case inPM2Dir(p):
			comp.comment(to, fmt.Sprintf("pm2 wrote %s to %s; thorp writes to its own logs directory", key, p))
		default:
			comp.set(to, luaString(p), "")
		}
	}
	switch {
	case ownPath(out) && out == errf:
		comp.set("log_file", luaString(out), "pm2 wrote stdout and stderr to one file")
		comp.set("merge_logs", "true", "")
		if ownPath(comb) && comb != out {
			c.combinedLog(comp, comb)
		}
	case ownPath(comb) && !ownPath(out) && !ownPath(errf):
		comp.set("log_file", luaString(comb), "pm2 log_file: stdout and stderr combined in one file",
			"pm2 also wrote each stream to its own file under ~/.pm2/logs; thorp writes both to log_file (merge_logs).")
		comp.set("merge_logs", "true", "")
	default:
		logPath("out_file", "log_file", out)
		logPath("error_file", "error_file", errf)
		if ownPath(comb) {
			c.combinedLog(comp, comb)
		} else if combinedOn || inPM2Dir(comb) {
			comp.comment("log_file", "pm2 log_file: PM2 also wrote a combined log of both streams under ~/.pm2/logs;",
				"thorp keeps stdout and stderr in their own files, and `thorp logs "+comp.name+"` shows both, merged by time")
		}
	}
	if b, isBool := boolOf(m["merge_logs"]); isBool && b && !c.dump {
		comp.comment("merge_logs", "pm2 merge_logs = true wrote the logs of all instances to one file, without an -ID suffix, as thorp does;",
			"thorp's merge_logs (stderr into the stdout file) is another thing, so it is not set from it")
	}
	var tsComments []string
	if b, _ := boolOf(m["time"]); b {
		tsComments = append(tsComments, "pm2 time = true prefixed each line with the time")
	}
	if f := stringOf(m["log_date_format"]); f != "" {
		tsComments = append(tsComments, fmt.Sprintf("pm2 log_date_format %s: thorp's times are RFC 3339 with milliseconds (2006-01-02T15:04:05.000Z07:00), its only format", jsonText(f)))
	}
	if len(tsComments) > 0 {
		comp.set("logs", "{ timestamps = true }", "", tsComments...)
	}
}

// combinedLog keeps PM2's combined log_file, which thorp does not write
// besides the out and error files, as a comment and a note.
func (c *converter) combinedLog(comp *component, p string) {
	comp.comment("log_file", fmt.Sprintf("pm2 log_file %s had both streams combined, besides the two files: thorp writes no third file;", jsonText(p)),
		"`thorp logs "+comp.name+"` shows both streams merged by time (or set log_file to it, drop error_file, and set merge_logs = true)")
	c.note(comp.name, "pm2 log_file %s (the combined log) is not written: thorp keeps stdout and stderr in their own files; see the comment", jsonText(p))
}

// pmIDSuffix is the "-ID" PM2 puts before ".log" in the log files of each
// process of an app without merge_logs (God.executeApp).
var pmIDSuffix = regexp.MustCompile(`-[0-9]+\.log$`)

// unsuffixed is the log path p without PM2's "-ID" suffix.
func unsuffixed(p string) string {
	return pmIDSuffix.ReplaceAllLiteralString(p, ".log")
}

// watch converts watch, ignore_watch and watch_delay into thorp's watch;
// watch_options (chokidar's) has no equivalent.
func (c *converter) watch(comp *component, m map[string]any, use func(...string)) {
	use("watch", "ignore_watch", "watch_delay", "watch_options")
	w, ok := m["watch"]
	if !ok {
		return
	}
	var paths []string
	var why string
	if b, isBool := boolOf(w); isBool {
		if !b {
			return
		}
		paths, why = []string{"."}, "pm2 watch = true: the app's directory"
	} else {
		paths = stringList(w)
	}
	if len(paths) == 0 {
		return
	}
	var comments, globs []string
	for i, p := range paths {
		if dir, isGlob := globDir(p); isGlob {
			paths[i], globs = dir, append(globs, p)
		}
	}
	if len(globs) > 0 {
		paths = uniqueStrings(paths)
		comments = append(comments, fmt.Sprintf("pm2 watched the glob(s) %s (chokidar's patterns); thorp watches files and directories,", jsonText(globs)),
			"so the directory before the first wildcard, everything below it included (narrow it with ignore)")
		c.note(comp.name, "watch glob(s) %s became the directories before their wildcards; see the comment on watch", jsonText(globs))
	}
	parts := []string{"paths = " + luaStrings(paths)}
	if v, ok := m["ignore_watch"]; ok {
		if ignore := stringList(v); len(ignore) > 0 {
			parts = append(parts, "ignore = "+luaStrings(ignore))
		}
	}
	if v, ok := m["watch_delay"]; ok {
		if d, valid := msDuration(v); valid {
			parts = append(parts, "delay = "+luaString(d))
		} else {
			comments = append(comments, unknownComment("watch_delay", v))
		}
	}
	if v, ok := m["watch_options"]; ok {
		comments = append(comments, fmt.Sprintf("pm2 watch_options %s (chokidar's) have no thorp equivalent", jsonText(v)))
		c.note(comp.name, "watch_options have no thorp equivalent; see the comment")
	}
	comp.set("watch", "{ "+strings.Join(parts, ", ")+" }", why, comments...)
}

// globDir is the directory of the glob p before its first wildcard, cleaned
// ("." when p starts with one); isGlob is false, and dir p, when p has no
// wildcard.
func globDir(p string) (dir string, isGlob bool) {
	i := strings.IndexAny(p, "*?[{")
	if i < 0 {
		return p, false
	}
	dir = p[:strings.LastIndexByte(p[:i], '/')+1]
	if dir == "" {
		return ".", true
	}
	return filepath.Clean(dir), true
}

// uniqueStrings is list without repeats, in its order.
func uniqueStrings(list []string) []string {
	var out []string
	for _, s := range list {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// cron converts cron_restart; PM2 also takes 6 fields (with seconds).
func (c *converter) cron(comp *component, v any) {
	s := strings.TrimSpace(stringOf(v))
	if s == "" {
		return
	}
	if _, err := cron.ParseStandard(s); err == nil {
		comp.set("cron_restart", luaString(s), "")
		return
	}
	if f := strings.Fields(s); len(f) == 6 {
		five := strings.Join(f[1:], " ")
		if _, err := cron.ParseStandard(five); err == nil {
			comp.set("cron_restart", luaString(five), fmt.Sprintf("pm2 %s: thorp has no seconds field", jsonText(s)))
			return
		}
	}
	comp.comment("cron_restart", unknownComment("cron_restart", v))
	c.note(comp.name, "cron_restart %s is not a 5-field cron schedule; see the comment", jsonText(s))
}

// msDuration converts a PM2 time (milliseconds, or a string like "30s",
// "1.5h", "500") into a Go duration string.
func msDuration(v any) (string, bool) {
	if s, ok := v.(string); ok {
		s = strings.TrimSpace(s)
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			if _, err := config.ParseDuration(s); err == nil && !strings.HasPrefix(s, "-") {
				return s, true
			}
			return "", false
		}
		v = json.Number(s)
	}
	f, ok := floatOf(v)
	if !ok || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return "", false
	}
	ms := int64(math.Round(f))
	if ms%1000 == 0 {
		return strconv.FormatInt(ms/1000, 10) + "s", true
	}
	return strconv.FormatInt(ms, 10) + "ms", true
}

// words turns PM2's args/node_args (a list or a string) into argv words.
// A string of args is split like a shell would; node_args on spaces.
func words(v any, shell bool) []string {
	switch t := v.(type) {
	case nil:
		return nil
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			out = append(out, stringOf(e))
		}
		return out
	case string:
		if shell {
			return shellSplit(t)
		}
		return strings.Fields(t)
	}
	return []string{stringOf(v)}
}

// stringList is a list of strings, or one string as a list of one; empty
// strings are left out.
func stringList(v any) []string {
	list, isList := v.([]any)
	if !isList {
		list = []any{v}
	}
	var out []string
	for _, e := range list {
		if s := stringOf(e); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// shellSplit splits s into words with single quotes, double quotes and
// backslashes, the way a POSIX shell does (without expansions).
func shellSplit(s string) []string {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote == '\'':
			if ch == '\'' {
				quote = 0
			} else {
				cur.WriteByte(ch)
			}
		case quote == '"':
			switch {
			case ch == '"':
				quote = 0
			case ch == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0:
				i++
				cur.WriteByte(s[i])
			default:
				cur.WriteByte(ch)
			}
		case ch == '\'' || ch == '"':
			quote, inWord = ch, true
		case ch == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case ch == ' ' || ch == '\t' || ch == '\n':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}

var shellSafeRE = regexp.MustCompile(`^[A-Za-z0-9_./=:,+@%-]+$`)

// shellQuote quotes s for /bin/sh when it needs it.
func shellQuote(s string) string {
	if shellSafeRE.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// stringOf is a JSON scalar as text ("" for null, objects and lists).
func stringOf(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	}
	return ""
}

// envValue is an env value as a string; PM2 stringifies numbers and booleans.
func envValue(v any) (string, bool) {
	switch v.(type) {
	case nil:
		return "", false
	case map[string]any, []any:
		return jsonText(v), true
	}
	return stringOf(v), true
}

func boolOf(v any) (bool, bool) {
	switch t := v.(type) {
	case bool:
		return t, true
	case string:
		switch t {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

func floatOf(v any) (float64, bool) {
	switch t := v.(type) {
	case json.Number:
		f, err := t.Float64()
		return f, err == nil
	case float64:
		return t, true
	}
	return 0, false
}

// intOf is a whole JSON number (or a numeric string) as an int.
func intOf(v any) (int, bool) {
	if s, ok := v.(string); ok {
		v = json.Number(strings.TrimSpace(s))
	}
	f, ok := floatOf(v)
	if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<52 {
		return 0, false
	}
	return int(f), true
}
