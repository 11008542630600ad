package config

import (
	"reflect"
	"strings"
	"testing"
)

// decodeGrants decodes settings.plugins given in the file (plugins), the
// environment and --set flags, and returns the problems as thorp check
// prints them and the decoded plugin settings (zero on errors).
func decodeGrants(t *testing.T, plugins map[string]any, env []string, flags map[string]any) ([]string, PluginSettings) {
	t.Helper()
	raw := &Raw{File: "thorp.lua", SettingsLine: 2, Components: []RawComponent{{Name: "a", Line: 3, Values: map[string]any{"command": "x"}}}}
	if plugins != nil {
		raw.Settings = map[string]any{"plugins": plugins}
	}
	cfg, problems := Decode(raw, env, flags)
	var out []string
	for _, p := range problems {
		out = append(out, p.String())
	}
	if cfg == nil {
		return out, PluginSettings{}
	}
	return out, cfg.Settings.Plugins
}

func TestDecode_AllowExec(t *testing.T) {
	const listForm = `a list of absolute program paths, e.g. { "/usr/bin/curl" }; true/false is not accepted`
	tests := []struct {
		name    string
		plugins map[string]any
		env     []string
		flags   map[string]any
		want    []string // problems
		exec    []string // decoded, when no problems
	}{
		{name: "default", exec: []string{}},
		{name: "list", plugins: map[string]any{"allow_exec": []any{"/usr/bin/curl", "/bin/sh"}}, exec: []string{"/usr/bin/curl", "/bin/sh"}},
		{name: "empty table", plugins: map[string]any{"allow_exec": map[string]any{}}, exec: []string{}},
		{name: "true", plugins: map[string]any{"allow_exec": true},
			want: []string{"thorp.lua:2: plugins.allow_exec: " + listForm}},
		{name: "false", plugins: map[string]any{"allow_exec": false},
			want: []string{"thorp.lua:2: plugins.allow_exec: " + listForm}},
		{name: "relative", plugins: map[string]any{"allow_exec": []any{"bin/x"}},
			want: []string{`thorp.lua:2: plugins.allow_exec: "bin/x" is not an absolute path; list each program by its absolute path, like "/usr/bin/curl"`}},
		{name: "not clean", plugins: map[string]any{"allow_exec": []any{"/usr/bin/../bin/curl"}},
			want: []string{`thorp.lua:2: plugins.allow_exec: "/usr/bin/../bin/curl" is not a clean path; write "/usr/bin/curl" (thorp.exec compares argv[1] with it exactly)`}},
		{name: "empty path", plugins: map[string]any{"allow_exec": []any{""}},
			want: []string{`thorp.lua:2: plugins.allow_exec: must not contain an empty path`}},
		{name: "a string is a one-item list", plugins: map[string]any{"allow_exec": "/bin/echo"}, exec: []string{"/bin/echo"}},
		{name: "--set true", flags: map[string]any{"plugins.allow_exec": true},
			want: []string{"--set plugins.allow_exec=true: " + listForm}},
		{name: "--set false over a good list", plugins: map[string]any{"allow_exec": []any{"/bin/echo"}}, flags: map[string]any{"plugins.allow_exec": false},
			want: []string{"--set plugins.allow_exec=false: " + listForm}},
		{name: "--set a path", flags: map[string]any{"plugins.allow_exec": "/bin/echo"}, exec: []string{"/bin/echo"}},
		{name: "--set a relative path", flags: map[string]any{"plugins.allow_exec": "echo"},
			want: []string{`--set plugins.allow_exec=echo: "echo" is not an absolute path; list each program by its absolute path, like "/usr/bin/curl"`}},
		{name: "variable true", env: []string{"THORP_PLUGINS__ALLOW_EXEC=true"},
			want: []string{"THORP_PLUGINS__ALLOW_EXEC: " + listForm}},
		{name: "variable list", env: []string{"THORP_PLUGINS__ALLOW_EXEC=/bin/echo, /bin/sh"}, exec: []string{"/bin/echo", "/bin/sh"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, p := decodeGrants(t, tt.plugins, tt.env, tt.flags)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("problems =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if tt.want == nil && !reflect.DeepEqual(p.AllowExec, tt.exec) {
				t.Errorf("AllowExec = %#v, want %#v", p.AllowExec, tt.exec)
			}
		})
	}
}

func TestDecode_AllowHosts(t *testing.T) {
	got, p := decodeGrants(t, map[string]any{"allow_hosts": []any{"hooks.slack.com", "10.0.0.7", "::1", "[fe80::1]"}}, nil, nil)
	if len(got) != 0 || len(p.AllowHosts) != 4 {
		t.Fatalf("problems %q, AllowHosts %q", got, p.AllowHosts)
	}
	for _, h := range []string{"https://hooks.slack.com", "hooks.slack.com:443", "hooks.slack.com/x", "*.slack.com", " "} {
		got, _ := decodeGrants(t, map[string]any{"allow_hosts": []any{h}}, nil, nil)
		if len(got) != 1 || !strings.HasPrefix(got[0], "thorp.lua:2: plugins.allow_hosts: ") {
			t.Errorf("allow_hosts %q: problems %q, want one at the settings line", h, got)
		}
	}
}
