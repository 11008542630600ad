package config

import (
	"strings"
	"testing"
)

func TestSplitHost(t *testing.T) {
	for _, tt := range []struct{ in, host, port, err string }{
		{"thorp.example.com", "thorp.example.com", "", ""},
		{"Thorp.Example.COM.:3001", "thorp.example.com", "3001", ""},
		{"localhost:3001", "localhost", "3001", ""},
		{"127.0.0.1", "127.0.0.1", "", ""},
		{"10.0.0.5:80", "10.0.0.5", "80", ""},
		{"[::1]:3001", "::1", "3001", ""},
		{"[FE80::1]", "fe80::1", "", ""},
		{"in_ternal-1.lan", "in_ternal-1.lan", "", ""},
		{"", "", "", "is empty"},
		{"http://x.example", "", "", "no scheme or path"},
		{"x.example/metrics", "", "", "no scheme or path"},
		{"::1", "", "", "without brackets"},
		{"[::1", "", "", "closing ]"},
		{"[::1]x", "", "", "text after ]"},
		{"[127.0.0.1]:80", "", "", "no IPv6 address"},
		{"[fe80::1%eth0]:80", "", "", "no IPv6 address"},
		{"x.example:", "", "", "not 1-65535"},
		{"x.example:0", "", "", "not 1-65535"},
		{"x.example:65536", "", "", "not 1-65535"},
		{"x.example:080", "", "", "not 1-65535"},
		{"x.example:http", "", "", "not 1-65535"},
		{"-x.example", "", "", "not a host name"},
		{"x..example", "", "", "not a host name"},
		{"*.example.com", "", "", "not a host name"},
		{"évil.example", "", "", "not a host name"},
		{"a b", "", "", "not a host name"},
		{strings.Repeat("a", 64) + ".example", "", "", "not a host name"},
	} {
		host, port, err := SplitHost(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("SplitHost(%q) = %q, %q, %v; want an error with %q", tt.in, host, port, err, tt.err)
			}
			continue
		}
		if err != nil || host != tt.host || port != tt.port {
			t.Errorf("SplitHost(%q) = %q, %q, %v; want %q, %q", tt.in, host, port, err, tt.host, tt.port)
		}
	}
}

// decodeSettings decodes a config whose settings{} call is on line 3.
func decodeSettings(t *testing.T, settings map[string]any, set map[string]any) Problems {
	t.Helper()
	raw := &Raw{File: "/srv/thorp.lua", SettingsLine: 3, Settings: settings,
		Components: []RawComponent{{Name: "a", Line: 5, Values: map[string]any{"command": "true"}}}}
	_, problems := Decode(raw, nil, set)
	return problems.Errors()
}

func TestDecode_Token(t *testing.T) {
	const secret = "Secr3t"
	for _, tt := range []struct{ token, want string }{
		{"0123456789abcdef", ""},
		{"!\"#$%&'()*+,-./0123456789:;<=>?@AZ[\\]^_`az{|}~", ""},
		{"", ""},
		{secret, "/srv/thorp.lua:3: token: is 6 characters long; a token is at least 16 printable ASCII characters without spaces"},
		{" " + secret + secret + secret, "/srv/thorp.lua:3: token: character 1 is a space;"},
		{secret + secret + secret + " ", "/srv/thorp.lua:3: token: character 19 is a space;"},
		{secret + "\t" + secret + secret, "/srv/thorp.lua:3: token: character 7 is not printable ASCII;"},
		{secret + "\n" + secret + secret, "/srv/thorp.lua:3: token: character 7 is not printable ASCII;"},
		{secret + "é" + secret + secret, "/srv/thorp.lua:3: token: character 7 is not printable ASCII;"},
	} {
		// The same rule holds whether the token comes from thorp.lua or
		// from --set (THORP_TOKEN takes the same path).
		for _, layer := range []string{"lua", "set"} {
			var problems Problems
			if layer == "lua" {
				problems = decodeSettings(t, map[string]any{"token": tt.token}, nil)
			} else {
				problems = decodeSettings(t, nil, map[string]any{"token": tt.token})
			}
			if tt.want == "" {
				if len(problems) != 0 {
					t.Errorf("%s token %q: %v", layer, tt.token, problems)
				}
				continue
			}
			if len(problems) != 1 {
				t.Errorf("%s token %q: problems %v, want one", layer, tt.token, problems)
				continue
			}
			got, want := problems[0].String(), tt.want
			if layer == "set" {
				// A flag's problem names the flag, never its value.
				want = "--set token=…: " + strings.TrimPrefix(want, "/srv/thorp.lua:3: token: ")
			}
			if !strings.HasPrefix(got, want) {
				t.Errorf("%s token %q: %q, want %q…", layer, tt.token, got, want)
			}
			if strings.Contains(got, secret) {
				t.Errorf("%s: the error echoes the token: %s", layer, got)
			}
		}
	}
}

func TestDecode_HTTPHosts(t *testing.T) {
	problems := decodeSettings(t, map[string]any{"http_hosts": []any{"thorp.example.com", "http://x.example", "y.example:99999", "ok.example:3001"}}, nil)
	var got []string
	for _, p := range problems {
		got = append(got, p.String())
	}
	want := []string{
		`/srv/thorp.lua:3: http_hosts: "http://x.example" is not a host (no scheme or path) (use a host name or IP address, optionally with ":port", like "thorp.example.com" or "thorp.example.com:3001")`,
		`/srv/thorp.lua:3: http_hosts: "y.example:99999" has port "99999", not 1-65535 (use a host name or IP address, optionally with ":port", like "thorp.example.com" or "thorp.example.com:3001")`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDecode_MetricsPushLabels(t *testing.T) {
	problems := decodeSettings(t, map[string]any{"metrics_push": map[string]any{"labels": map[string]any{
		"host": "web-1", "_dc": "x", "Zone9": "y", "bad-name": "z", "9lives": "z", "__name__": "z", "component": "z",
	}}}, nil)
	var got []string
	for _, p := range problems {
		got = append(got, p.String())
	}
	want := []string{
		`/srv/thorp.lua:3: metrics_push.labels: "9lives" is not a label name (letters, digits and '_', not starting with a digit or "__")`,
		`/srv/thorp.lua:3: metrics_push.labels: "__name__" is not a label name (letters, digits and '_', not starting with a digit or "__")`,
		`/srv/thorp.lua:3: metrics_push.labels: "bad-name" is not a label name (letters, digits and '_', not starting with a digit or "__")`,
		`/srv/thorp.lua:3: metrics_push.labels: "component" is a label of thorp's own series; pick another name`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
