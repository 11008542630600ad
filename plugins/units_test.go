package plugins_test

import (
	"strings"
	"testing"

	"github.com/thorp-dev/thorp/plugins"
)

func TestUnits(t *testing.T) {
	path := writeLua(t, `local units = require "thorp.units"
local function show(v, err) return tostring(v) .. (err and (" " .. err) or "") end
print(show(units.duration("1h30m")), show(units.duration("500ms")), show(units.duration(90)), show(units.duration("1d")), show(units.duration("")))
print(show(units.size("300MB")), show(units.size("1.5GiB")), show(units.size("10m")), show(units.size(512)), show(units.size("12XB")))
print(show(units.clock("02:30")), show(units.clock("24:00")))
`)
	rec := &logRecorder{}
	if _, _, ps := evaluate(t, path, plugins.Options{Log: rec.log}); len(ps) != 0 {
		t.Fatalf("problems: %q", problemStrings(ps))
	}
	for _, want := range []string{
		"thorp.lua:3 5400\t0.5\t90\tnil \"1d\" is not a duration",
		"\tnil \"\" is not a duration",
		"thorp.lua:4 300000000\t1610612736\t10485760\t512\tnil \"12XB\" is not a size",
		"thorp.lua:5 150\tnil \"24:00\" is not a time of day",
	} {
		if !strings.Contains(rec.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, rec)
		}
	}
}
