package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func profileRaw() *Raw {
	return &Raw{File: "/srv/thorp.lua", Components: []RawComponent{
		{Name: "api", Line: 3, Values: map[string]any{
			"command":        "node app.js",
			"env":            map[string]any{"NODE_ENV": "development", "PORT": 3000.0, "LOG": "debug"},
			"env_production": map[string]any{"NODE_ENV": "production", "PORT": 8080.0},
			"env_staging-2":  map[string]any{"NODE_ENV": "staging"},
		}},
		{Name: "worker", Line: 9, Values: map[string]any{"command": "sleep 1"}},
	}}
}

func TestDecode_EnvProfiles(t *testing.T) {
	for _, tc := range []struct {
		env     []string
		profile string
		want    map[string]string
	}{
		{nil, "", map[string]string{"NODE_ENV": "development", "PORT": "3000", "LOG": "debug"}},
		{[]string{"THORP_ENV=production"}, "production", map[string]string{"NODE_ENV": "production", "PORT": "8080", "LOG": "debug"}},
		{[]string{"THORP_ENV=production", "THORP_ENV=staging-2"}, "staging-2", map[string]string{"NODE_ENV": "staging", "PORT": "3000", "LOG": "debug"}},
	} {
		cfg, problems := Decode(profileRaw(), tc.env, nil)
		if len(problems) != 0 {
			t.Fatalf("%v: problems %v", tc.env, problems)
		}
		if cfg.Profile != tc.profile {
			t.Errorf("%v: Profile = %q, want %q", tc.env, cfg.Profile, tc.profile)
		}
		api := cfg.Component("api")
		if !reflect.DeepEqual(api.Env, tc.want) {
			t.Errorf("%v: env = %v, want %v", tc.env, api.Env, tc.want)
		}
		wantProfiles := map[string]map[string]string{
			"production": {"NODE_ENV": "production", "PORT": "8080"},
			"staging-2":  {"NODE_ENV": "staging"},
		}
		if !reflect.DeepEqual(api.EnvProfiles, wantProfiles) {
			t.Errorf("profiles = %v", api.EnvProfiles)
		}
		if m := api.Map(); fmt.Sprint(m["env_production"]) != fmt.Sprint(wantProfiles["production"]) || fmt.Sprint(m["env"]) != fmt.Sprint(tc.want) {
			t.Errorf("Map: env %v, env_production %v", m["env"], m["env_production"])
		}
		if w := cfg.Component("worker"); w.Env != nil || w.EnvProfiles != nil {
			t.Errorf("worker: env %v, profiles %v", w.Env, w.EnvProfiles)
		}
	}
}

func TestDecode_EnvProfileProblems(t *testing.T) {
	// A profile no component defines is a warning (a typo guard).
	cfg, problems := Decode(profileRaw(), []string{"THORP_ENV=prodution"}, nil)
	if cfg == nil || len(problems) != 1 || !problems[0].Warning ||
		!strings.Contains(problems[0].String(), `env profile "prodution" (THORP_ENV or --env) is defined by no component`) {
		t.Fatalf("problems = %v", problems)
	}
	if cfg.Component("api").Env["NODE_ENV"] != "development" {
		t.Errorf("env = %v", cfg.Component("api").Env)
	}

	raw := profileRaw()
	raw.Components[1].Values["env_production"] = "NODE_ENV=production"
	raw.Components[1].Values["env_"] = map[string]any{}
	raw.Components[1].Values["env_x"] = map[string]any{"A": map[string]any{}}
	_, problems = Decode(raw, []string{"THORP_ENV=bad name"}, nil)
	var got []string
	for _, p := range problems.Errors() {
		got = append(got, p.String())
	}
	want := []string{
		`THORP_ENV: "bad name" is not an env profile name: letters, digits, '_' or '-' (the env_<name> keys of components)`,
		"/srv/thorp.lua:9: component \"worker\": env_: unknown key; did you mean `env`?",
		`/srv/thorp.lua:9: component "worker": env_production: expected a table of name = value, got "NODE_ENV=production" (a table of names and strings, like env: { NODE_ENV = "production" })`,
		`/srv/thorp.lua:9: component "worker": env_x: A: expected a string, got an empty table (a table of names and strings, like env: { NODE_ENV = "production" })`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
