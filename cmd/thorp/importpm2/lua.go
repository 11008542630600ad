package importpm2

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// header is what the generated file says about its origin.
type header struct {
	source, kind, date string
	extra              []string // top-level keys other than apps
	notes              []string // what evaluating the file read of this machine
	profiles           []string // env profile names the components set
}

// component is one converted app.
type component struct {
	name     string
	comments []string // above the component
	lines    []line
}

// line is one key (or a comment standing for one) inside a component.
type line struct {
	order    int      // position in keyOrder; unknown keys last
	comments []string // above the key
	key      string   // "" for a comment-only line
	value    string   // rendered Lua
	inline   string   // comment after the value
}

// keyOrder is the order of the component keys in DESIGN.md's table.
var keyOrder = []string{
	"command", "autostart", "cwd", "env", "user", "group", "autorestart", "restart_delay", "exp_backoff_max",
	"min_uptime", "max_restarts", "retry_errored_after", "stop_exit_codes", "stop_signal", "kill_timeout",
	"max_memory_restart", "memory_interval", "memory_samples", "memory_measure", "memory_high", "depends_on", "sockets",
	"ready", "listen_timeout", "watchdog", "health", "restart_mode", "instances", "proxy", "cron_restart",
	"watch", "log_file", "error_file", "merge_logs", "logs",
}

// orderOf is a thorp key's position; unknown keys sort after all known ones.
// Env profiles (env_<name>) follow env.
func orderOf(key string) int {
	if strings.HasPrefix(key, "env_") || strings.HasPrefix(key, `["env_`) {
		key = "env"
	}
	for i, k := range keyOrder {
		if k == key {
			return i
		}
	}
	return len(keyOrder)
}

func (c *component) set(key, value, inline string, comments ...string) {
	c.lines = append(c.lines, line{order: orderOf(key), key: key, value: value, inline: inline, comments: comments})
}

// comment adds comment lines at the position of the thorp key near (or last).
func (c *component) comment(near string, comments ...string) {
	c.lines = append(c.lines, line{order: orderOf(near), comments: comments})
}

func (c *component) has(key string) bool {
	for _, l := range c.lines {
		if l.key == key {
			return true
		}
	}
	return false
}

// render writes the whole file.
func render(h header, comps []*component) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "-- thorp.lua imported from %s (%s) by `thorp import pm2` on %s.\n", h.source, h.kind, h.date)
	b.WriteString("-- PM2 keys without a thorp equivalent are kept as comments inside each component:\n")
	b.WriteString("-- read them, then run `thorp check` before `thorp run`.\n")
	for _, k := range h.extra {
		fmt.Fprintf(&b, "-- pm2 top-level key %s is not converted (thorp has no equivalent).\n", commentText(jsonText(k)))
	}
	for _, n := range h.notes {
		b.WriteString("-- " + commentText(n) + ".\n")
	}
	if len(h.profiles) > 0 {
		fmt.Fprintf(&b, "-- Env profiles from pm2's env_<name> blocks: %s. Select one with `thorp run --env NAME`\n", commentText(strings.Join(h.profiles, ", ")))
		b.WriteString("-- (or THORP_ENV=NAME), as `pm2 start --env NAME` did; it is merged over env.\n")
	}
	if len(comps) == 0 {
		b.WriteString("\n-- The file lists no apps.\n")
	}
	for _, c := range comps {
		b.WriteString("\n")
		for _, cm := range c.comments {
			b.WriteString("-- " + commentText(cm) + "\n")
		}
		fmt.Fprintf(&b, "component %s {\n", luaString(c.name))
		sort.SliceStable(c.lines, func(i, j int) bool { return c.lines[i].order < c.lines[j].order })
		for _, l := range c.lines {
			for _, cm := range l.comments {
				b.WriteString("  -- " + commentText(cm) + "\n")
			}
			if l.key == "" {
				continue
			}
			fmt.Fprintf(&b, "  %s = %s,", l.key, l.value)
			if l.inline != "" {
				b.WriteString(" -- " + commentText(l.inline))
			}
			b.WriteString("\n")
		}
		b.WriteString("}\n")
	}
	return []byte(b.String())
}

// luaString quotes s as a Lua 5.1 string literal. Control bytes become
// decimal escapes of three digits, so a following digit cannot join them;
// other bytes (UTF-8 included) are kept as they are.
func luaString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 || c == 0x7f {
				fmt.Fprintf(&b, `\%03d`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// luaStrings renders a list of strings as a Lua array on one line.
func luaStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = luaString(s)
	}
	return "{ " + strings.Join(q, ", ") + " }"
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var luaKeywords = map[string]bool{
	"and": true, "break": true, "do": true, "else": true, "elseif": true, "end": true, "false": true,
	"for": true, "function": true, "if": true, "in": true, "local": true, "nil": true, "not": true,
	"or": true, "repeat": true, "return": true, "then": true, "true": true, "until": true, "while": true,
}

// luaKey renders a table key: bare when it is an identifier, else ["…"].
func luaKey(k string) string {
	if identRE.MatchString(k) && !luaKeywords[k] {
		return k
	}
	return "[" + luaString(k) + "]"
}

// luaStringMap renders a string map over several lines, keys sorted.
func luaStringMap(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	var b strings.Builder
	b.WriteString("{\n")
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "    %s = %s,\n", luaKey(k), luaString(m[k]))
	}
	b.WriteString("  }")
	return b.String()
}

// commentText makes s safe inside a Lua line comment: control characters
// (newlines above all, which would end the comment) become spaces, and very
// long values are cut.
func commentText(s string) string {
	const max = 300
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' || r == '\u0085' {
			return ' '
		}
		return r
	}, s)
	if len(s) > max {
		cut := max
		for cut > 0 && s[cut]&0xc0 == 0x80 { // do not split a UTF-8 sequence
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// jsonText is v as compact JSON, for showing a PM2 value in a comment.
func jsonText(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
