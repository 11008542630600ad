package config

import (
	"strings"
	"testing"
)

func TestDecode_PluginsPath(t *testing.T) {
	decode := func(path any) (*Config, Problems) {
		return Decode(&Raw{File: "/srv/app/thorp.lua", SettingsLine: 1,
			Settings: map[string]any{"plugins": map[string]any{"path": path}}}, nil, nil)
	}
	for in, want := range map[string]string{"lib/lua": "/srv/app/lib/lua", "/opt/thorp/plugins": "/opt/thorp/plugins"} {
		cfg, ps := decode(in)
		if ps.Err() != nil {
			t.Fatalf("%q: problems %v", in, ps)
		}
		if cfg.Settings.Plugins.Path != want {
			t.Errorf("path %q decodes to %q, want %q", in, cfg.Settings.Plugins.Path, want)
		}
	}
	_, ps := decode("")
	if got := ProblemsError(ps).Error(); !strings.Contains(got, `thorp.lua:1: plugins.path: must not be empty`) {
		t.Errorf("empty path: %s", got)
	}
}
