package config

import (
	"strings"
	"testing"
)

func TestDecode_Critical(t *testing.T) {
	c, problems := decodeOne(t, map[string]any{})
	if c == nil || c.Critical {
		t.Fatalf("default: %+v %q, want critical false", c, problems)
	}
	c, problems = decodeOne(t, map[string]any{"critical": true})
	if c == nil || !c.Critical || len(problems) != 0 {
		t.Fatalf("critical = true: critical %v, problems %q", c != nil && c.Critical, problems)
	}
	_, problems = decodeOne(t, map[string]any{"critical": "yes"})
	if len(problems) != 1 || !strings.HasPrefix(problems[0], `thorp.lua:7: component "api": critical: `) {
		t.Fatalf(`critical = "yes": problems %q, want one error on critical`, problems)
	}
	for _, tc := range []struct {
		values map[string]any
		want   string
	}{
		{map[string]any{"critical": true, "autorestart": "never"},
			`thorp.lua:7: component "api": critical: has no effect with autorestart = "never": the component stops instead of ending errored`},
		{map[string]any{"critical": true, "max_restarts": 0.0},
			`thorp.lua:7: component "api": critical: has no effect with max_restarts = 0: the component is restarted forever and never ends errored`},
	} {
		c, problems := decodeOne(t, tc.values)
		if c == nil || strings.Join(problems, "\n") != tc.want {
			t.Errorf("%v: problems %q, want the warning %q", tc.values, problems, tc.want)
		}
	}
}

func TestDecode_LogsStdout(t *testing.T) {
	decode := func(settings map[string]any, logs map[string]any) (*Config, Problems) {
		values := map[string]any{"command": []any{"node", "server.js"}}
		if logs != nil {
			values["logs"] = logs
		}
		return Decode(&Raw{File: "/srv/thorp.lua", Name: "thorp.lua", Settings: settings, Components: []RawComponent{
			{Name: "api", Line: 7, Values: values},
		}}, nil, nil)
	}
	cfg, problems := decode(nil, nil)
	if cfg == nil || cfg.Settings.Logs.Stdout || cfg.Components[0].Logs.Stdout {
		t.Fatalf("default: %v, want logs.stdout false", problems)
	}
	cfg, problems = decode(map[string]any{"logs": map[string]any{"stdout": true}}, nil)
	if cfg == nil || !cfg.Settings.Logs.Stdout || !cfg.Components[0].Logs.Stdout {
		t.Fatalf("settings.logs.stdout = true: %v, want it inherited by the component", problems)
	}
	cfg, problems = decode(map[string]any{"logs": map[string]any{"stdout": true}}, map[string]any{"stdout": false})
	if cfg == nil || !cfg.Settings.Logs.Stdout || cfg.Components[0].Logs.Stdout {
		t.Fatalf("a component's logs.stdout = false: %v, want it to override the settings", problems)
	}
}
