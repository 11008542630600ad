package plugins_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/plugins"
)

func TestInclude_FunctionsAndStates(t *testing.T) {
	path := writeLua(t, `include("conf.d/*.lua")
component "main" { command = "true" }
`)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(filepath.Join(dir, "conf.d", "more"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"conf.d/web.lua": `include("more/*.lua")
on("start", function(ev)
  thorp.log("info", "hook from web.lua " .. WHO)
end)
component "web" { command = "true", ready = function() return true end }
`,
		"conf.d/more/who.lua": "WHO = 'who.lua'\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu     sync.Mutex
		logged []string
	)
	raw, _, ps := evaluate(t, path, plugins.Options{Log: func(level, msg, where string) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, where+" "+msg)
	}})
	if len(ps) != 0 {
		t.Fatalf("problems: %q", problemStrings(ps))
	}
	var got []string
	for _, c := range raw.Components {
		got = append(got, c.Name+"@"+c.File)
	}
	if want := []string{"web@conf.d/web.lua", "main@"}; !reflect.DeepEqual(got, want) {
		t.Errorf("components %v, want %v", got, want)
	}
	if w := raw.Components[0].Values["ready"].(interface{ Where() string }).Where(); w != "conf.d/web.lua:5" {
		t.Errorf("ready function at %q", w)
	}
	if w := raw.Hooks[0].Func.Where(); w != "conf.d/web.lua:2" {
		t.Errorf("hook at %q", w)
	}
	// The hook runs in a state of its own, evaluated again from the files
	// as first compiled: removing them now changes nothing.
	if err := os.RemoveAll(filepath.Join(dir, "conf.d")); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Hooks[0].Func.Call(t.Context(), nil, 5*time.Second); err != nil {
		t.Fatalf("hook: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if s := strings.Join(logged, "\n"); !strings.Contains(s, "conf.d/web.lua:3 hook from web.lua who.lua") {
		t.Errorf("log:\n%s", s)
	}
}
