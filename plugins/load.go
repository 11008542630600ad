package plugins

import (
	"github.com/thorp-dev/thorp/engine/config"
)

// Load is the one load path `thorp run`, `thorp check` and a config reload
// share: evaluate the file, then layer, decode and validate it. env is the
// environment for THORP_* overrides; overrides are flag-level settings.
//
// On success it returns the config and the Script that owns its Lua
// functions (the caller closes it); problems may still hold warnings. On any
// error cfg and script are nil and problems lists every error found.
func Load(path string, opts Options, env []string, overrides map[string]any) (*config.Config, *Script, config.Problems) {
	raw, script, problems := Evaluate(path, opts)
	if raw == nil {
		return nil, nil, problems
	}
	cfg, more := config.Decode(raw, env, overrides)
	for i := range more {
		if more[i].File == raw.File {
			more[i].File = path // as the operator named it, like Evaluate's own problems
		}
	}
	problems = append(problems, more...)
	if problems.Err() != nil {
		if script != nil {
			script.Close()
		}
		return nil, nil, problems
	}
	return cfg, script, problems
}
