package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDecode_AlertsDefaults(t *testing.T) {
	raw := &Raw{File: "/srv/thorp.lua", SettingsLine: 3, Settings: map[string]any{"alerts": map[string]any{}},
		Components: []RawComponent{{Name: "a", Line: 5, Values: map[string]any{"command": "true"}}}}
	cfg, problems := Decode(raw, nil, nil)
	if len(problems.Errors()) > 0 {
		t.Fatal(ProblemsError(problems))
	}
	want := AlertSettings{Format: "json", Command: []string{}, On: []string{}, RestartsPerHour: 10,
		Timeout: 5 * time.Second, Retries: 3, RepeatInterval: time.Minute}
	if !reflect.DeepEqual(cfg.Settings.Alerts, want) {
		t.Fatalf("Alerts = %+v, want %+v", cfg.Settings.Alerts, want)
	}
}

func TestDecode_AlertsGood(t *testing.T) {
	raw := &Raw{File: "/srv/thorp.lua", SettingsLine: 3, Settings: map[string]any{"alerts": map[string]any{
		"webhook": "https://hooks.example.com/x", "format": "slack", "command": []any{"/usr/local/bin/page", "--team", "ops"},
		"on": []any{"restarts", "health", "errored", "memory"}, "restarts_per_hour": 3.0, "timeout": "2s",
		"retries": 0.0, "repeat_interval": "10m",
	}}, Components: []RawComponent{{Name: "a", Line: 5, Values: map[string]any{"command": "true"}}}}
	cfg, problems := Decode(raw, nil, nil)
	if len(problems.Errors()) > 0 {
		t.Fatal(ProblemsError(problems))
	}
	want := AlertSettings{Webhook: "https://hooks.example.com/x", Format: "slack",
		Command: []string{"/usr/local/bin/page", "--team", "ops"}, On: []string{"restarts", "health", "errored", "memory"},
		RestartsPerHour: 3, Timeout: 2 * time.Second, Retries: 0, RepeatInterval: 10 * time.Minute}
	if !reflect.DeepEqual(cfg.Settings.Alerts, want) {
		t.Fatalf("Alerts = %+v, want %+v", cfg.Settings.Alerts, want)
	}
}

func TestDecode_AlertsBad(t *testing.T) {
	for _, tt := range []struct {
		alerts map[string]any
		want   string
	}{
		{map[string]any{"on": []any{"restarts", "crash"}},
			`/srv/thorp.lua:3: alerts.on: "crash" is not a rule; the rules are "errored", "health", "memory", "restarts"`},
		{map[string]any{"webhook": "ftp://example.com/x"},
			`/srv/thorp.lua:3: alerts.webhook: "ftp://example.com/x" is not an http:// or https:// URL`},
		{map[string]any{"webhook": "hooks.example.com"},
			`/srv/thorp.lua:3: alerts.webhook: "hooks.example.com" is not an http:// or https:// URL`},
		{map[string]any{"command": []any{"notify-send", "x"}},
			`/srv/thorp.lua:3: alerts.command: "notify-send" is not an absolute path;`},
		{map[string]any{"command": []any{""}},
			`/srv/thorp.lua:3: alerts.command: the program (the first item) is empty`},
		{map[string]any{"restarts_per_hour": 0.0},
			`/srv/thorp.lua:3: alerts.restarts_per_hour: must be at least 1, got 0`},
		{map[string]any{"format": "teams"},
			`/srv/thorp.lua:3: alerts.format: "teams" is not a format; use "json" or "slack"`},
		{map[string]any{"timeout": "0s"}, `/srv/thorp.lua:3: alerts.timeout: must be more than 0`},
		{map[string]any{"retries": 11.0}, `/srv/thorp.lua:3: alerts.retries: must be 0 to 10, got 11`},
		{map[string]any{"repeat_interval": "-1s"}, `/srv/thorp.lua:3: alerts.repeat_interval: "-1s" is negative`},
		{map[string]any{"timeout": "soon"}, `/srv/thorp.lua:3: alerts.timeout: `},
		{map[string]any{"channel": "#ops"}, `/srv/thorp.lua:3: alerts.channel: `},
	} {
		problems := decodeSettings(t, map[string]any{"alerts": tt.alerts}, nil)
		if len(problems) != 1 || !strings.HasPrefix(problems[0].String(), tt.want) {
			t.Errorf("alerts %v: problems %v, want one starting %q", tt.alerts, problems, tt.want)
		}
	}
}

func TestDecode_AlertsFromSet(t *testing.T) {
	problems := decodeSettings(t, nil, map[string]any{"alerts.restarts_per_hour": 0.0})
	if len(problems) != 1 || !strings.Contains(problems[0].String(), "--set alerts.restarts_per_hour=0: ") {
		t.Fatalf("problems %v", problems)
	}
}
