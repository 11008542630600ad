package config

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// tagFields maps each koanf tag of struct type t to its field.
func tagFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("koanf"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		out[tag] = f
	}
	return out
}

// section returns the struct type of a nested table of keys: a struct with
// koanf tags, or a pointer to one.
func section(t reflect.Type) (reflect.Type, bool) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct && t != commandType && len(tagFields(t)) > 0 {
		return t, true
	}
	return nil, false
}

// keysOf lists the dotted keys of t, sections expanded, sorted.
func keysOf(t reflect.Type, prefix string, extra ...string) []string {
	var out []string
	for tag, f := range tagFields(t) {
		if st, ok := section(f.Type); ok {
			out = append(out, keysOf(st, prefix+tag+".")...)
			continue
		}
		out = append(out, prefix+tag)
	}
	for _, e := range extra {
		out = append(out, prefix+e)
	}
	sort.Strings(out)
	return out
}

// KnownSettingsKeys returns every settings key, dotted for nesting
// ("logs.max_size"), sorted. It is safe for concurrent use.
func KnownSettingsKeys() []string {
	return keysOf(settingsType, "")
}

// KnownComponentKeys returns every component key, dotted for nesting
// ("logs.max_size", "health.interval"), sorted. It is safe for concurrent use.
func KnownComponentKeys() []string {
	return keysOf(componentType, "", "ready")
}

// dropUnknown removes from m (in place) every key that struct type t does not
// have, recursing into sections, and returns one keyError per removed key.
func dropUnknown(m map[string]any, t reflect.Type, prefix string, extra ...string) []keyError {
	fields := tagFields(t)
	names := append(slices.Sorted(maps.Keys(fields)), extra...)
	var out []keyError
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if f, ok := fields[k]; ok {
			if st, ok := section(f.Type); ok {
				if sub, ok := m[k].(map[string]any); ok {
					out = append(out, dropUnknown(sub, st, prefix+k+".")...)
				}
			}
			continue
		}
		if slices.Contains(extra, k) {
			continue
		}
		delete(m, k)
		msg := "unknown key"
		if s := suggest(k, names); s != "" {
			msg = fmt.Sprintf("unknown key; did you mean `%s`?", prefix+s)
		}
		out = append(out, keyError{key: prefix + k, msg: msg})
	}
	return out
}

// suggest returns the candidate closest to s: an edit distance of at most 2
// wins, else a candidate that s is a prefix of (or that is a prefix of s);
// "" when nothing is close. Comparison ignores case.
func suggest(s string, candidates []string) string {
	ls := strings.ToLower(s)
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := editDistance(ls, strings.ToLower(c)); d < bestDist || d == bestDist && best != "" && c < best {
			best, bestDist = c, d
		}
	}
	if best != "" {
		return best
	}
	if len(ls) < 3 {
		return ""
	}
	for _, c := range candidates {
		lc := strings.ToLower(c)
		if (strings.HasPrefix(lc, ls) || strings.HasPrefix(ls, lc)) && (best == "" || len(c) < len(best) || len(c) == len(best) && c < best) {
			best = c
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
