package spawn

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// lookPath finds file in pathEnv's directories like a shell would; a name
// with a slash is taken relative to dir.
func lookPath(file, pathEnv, dir string) (string, error) {
	if strings.Contains(file, "/") {
		p := file
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if err := executable(p); err != nil {
			return "", fmt.Errorf("command %s: %w", file, err)
		}
		return p, nil
	}
	for _, d := range filepath.SplitList(pathEnv) {
		if d == "" {
			d = "."
		}
		p := filepath.Join(d, file)
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("command %q not found in PATH (%s); install it or give its full path", file, pathEnv)
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", p)
	}
	return nil
}

// envValue returns key's value in env ("" when unset).
func envValue(env []string, key string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}

// buildEnv returns base without thorp's own variables, with env's keys set
// (sorted for reproducibility) and extra appended.
func buildEnv(base []string, env map[string]string, extra []string) []string {
	out := make([]string, 0, len(base)+len(env)+len(extra))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, over := env[k]; !over && !thorps(k) {
			out = append(out, kv)
		}
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		out = append(out, k+"="+env[k])
	}
	return append(out, extra...)
}

// thorps reports whether an inherited variable belongs to thorp's own
// supervisor (systemd) or to thorp itself, so children must not inherit it.
func thorps(key string) bool {
	return key == "NOTIFY_SOCKET" || strings.HasPrefix(key, "LISTEN_") || strings.HasPrefix(key, "WATCHDOG_") ||
		key == "THORP_INSTANCE" || key == "THORP_COMPONENT"
}
