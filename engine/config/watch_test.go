package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDecode_TagsAutostartWatch(t *testing.T) {
	ignore := func(extra ...string) []string { return append(slices.Clone(DefaultWatchIgnore), extra...) }
	for _, tc := range []struct {
		name      string
		values    map[string]any
		tags      []string
		autostart bool
		watch     *Watch
	}{
		{"absent", map[string]any{}, nil, true, nil},
		{"tags and autostart", map[string]any{"tags": []any{"web", "api"}, "autostart": false}, []string{"web", "api"}, false, nil},
		{"watch = true is the cwd", map[string]any{"watch": true}, nil, true,
			&Watch{Paths: []string{"/srv"}, Ignore: ignore(), Delay: time.Second}},
		{"watch = false is none", map[string]any{"watch": false}, nil, true, nil},
		{"a list is the paths", map[string]any{"watch": []any{"src", "/abs/lib"}}, nil, true,
			&Watch{Paths: []string{"/srv/src", "/abs/lib"}, Ignore: ignore(), Delay: time.Second}},
		{"a string is one path", map[string]any{"watch": "src"}, nil, true,
			&Watch{Paths: []string{"/srv/src"}, Ignore: ignore(), Delay: time.Second}},
		{"a table, relative to cwd", map[string]any{"cwd": "app", "watch": map[string]any{
			"paths": []any{"src"}, "ignore": []any{"*.log", "build/tmp"}, "delay": "250ms"}}, nil, true,
			&Watch{Paths: []string{"/srv/app/src"}, Ignore: ignore("*.log", "build/tmp"), Delay: 250 * time.Millisecond}},
		{"a table without paths watches the cwd", map[string]any{"watch": map[string]any{"delay": 2.0}}, nil, true,
			&Watch{Paths: []string{"/srv"}, Ignore: ignore(), Delay: 2 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, problems := decodeOne(t, tc.values)
			if c == nil {
				t.Fatalf("problems: %v", problems)
			}
			if !reflect.DeepEqual(c.Tags, tc.tags) || c.Autostart != tc.autostart {
				t.Errorf("tags %q autostart %v, want %q %v", c.Tags, c.Autostart, tc.tags, tc.autostart)
			}
			if !reflect.DeepEqual(c.Watch, tc.watch) {
				t.Errorf("watch = %+v, want %+v", c.Watch, tc.watch)
			}
		})
	}
}

func TestDecode_TagsWatchBad(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"bad tag", map[string]any{"tags": []any{"web", "@api"}}, `thorp.lua:7: component "api": tags: "@api" is not a valid tag`},
		{"tags not a list", map[string]any{"tags": 3.0}, `thorp.lua:7: component "api": tags: expected`},
		{"autostart not a bool", map[string]any{"autostart": "no"}, `thorp.lua:7: component "api": autostart: expected`},
		{"watch a number", map[string]any{"watch": 3.0}, `thorp.lua:7: component "api": watch: expected true, a list of paths or a table`},
		{"unknown watch key", map[string]any{"watch": map[string]any{"path": "src"}}, "watch.path: unknown key; did you mean `watch.paths`?"},
		{"empty paths", map[string]any{"watch": map[string]any{"paths": map[string]any{}}}, `watch.paths`},
		{"short delay", map[string]any{"watch": map[string]any{"delay": "1ms"}}, `watch.delay: 1ms is too short; use at least 10ms`},
		{"bad glob", map[string]any{"watch": map[string]any{"ignore": []any{"[x"}}}, `watch.ignore: "[x" is not a valid glob`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, problems := decodeOne(t, tc.values)
			if c != nil || !strings.Contains(strings.Join(problems, "\n"), tc.want) {
				t.Fatalf("problems %q, want one containing %q", problems, tc.want)
			}
		})
	}
}

func TestSelect(t *testing.T) {
	comps := []string{"db", "web", "api", "worker"}
	tags := map[string][]string{"web": {"front", "http"}, "api": {"http"}, "worker": {"bg"}}
	of := func(n string) []string { return tags[n] }
	for _, tc := range []struct {
		names, want, unknown []string
	}{
		{[]string{"all"}, comps, nil},
		{[]string{"@http"}, []string{"web", "api"}, nil},
		{[]string{"api", "@http", "db"}, []string{"api", "web", "db"}, nil},
		{[]string{"@nope", "web", "nope"}, []string{"web"}, []string{"@nope", "nope"}},
		{[]string{"@all"}, nil, []string{"@all"}},
	} {
		got, unknown := Select(comps, of, tc.names)
		if !reflect.DeepEqual(got, tc.want) || !reflect.DeepEqual(unknown, tc.unknown) {
			t.Errorf("Select(%q) = %q, %q; want %q, %q", tc.names, got, unknown, tc.want, tc.unknown)
		}
	}
	if got, want := Known(comps, of), []string{"db", "web", "api", "worker", "@front", "@http", "@bg"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Known = %q, want %q", got, want)
	}
}
