package config

import (
	"strings"
	"testing"
)

// TestDecode_PluginMaxMemory checks settings.plugins.max_memory: the default,
// a size string, and values out of range reported at the settings line.
func TestDecode_PluginMaxMemory(t *testing.T) {
	tests := []struct {
		value   any
		want    Size
		wantErr string
	}{
		{nil, 64 * MiB, ""},
		{"16MiB", 16 * MiB, ""},
		{"512KiB", 0, `thorp.lua:3: plugins.max_memory: 512 KiB is out of range; use 1 MiB to 16 GiB (default 64MiB)`},
		{"1TiB", 0, `thorp.lua:3: plugins.max_memory: 1 TiB is out of range`},
		{"lots", 0, `thorp.lua:3: plugins.max_memory:`},
	}
	for _, tt := range tests {
		settings := map[string]any{}
		if tt.value != nil {
			settings["plugins"] = map[string]any{"max_memory": tt.value}
		}
		raw := &Raw{File: "thorp.lua", Settings: settings, SettingsLine: 3, Components: []RawComponent{
			{Name: "a", Line: 4, Values: map[string]any{"command": "true"}},
		}}
		cfg, problems := Decode(raw, nil, nil)
		if tt.wantErr != "" {
			if len(problems.Errors()) != 1 || !strings.HasPrefix(problems.Errors()[0].String(), tt.wantErr) {
				t.Errorf("%v: problems = %v, want %q", tt.value, problems, tt.wantErr)
			}
			continue
		}
		if cfg == nil || cfg.Settings.Plugins.MaxMemory != tt.want {
			t.Errorf("%v: cfg %v, problems %v; want max_memory %s", tt.value, cfg, problems, tt.want)
		}
	}
}
