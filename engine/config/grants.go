package config

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"github.com/knadh/koanf/v2"
)

// execListForm explains plugins.allow_exec's form.
const execListForm = `a list of absolute program paths, e.g. { "/usr/bin/curl" }; true/false is not accepted`

// execForm reports plugins.allow_exec given as true or false (a boolean
// once meant "allow everything"), from the file, a THORP_* variable or a
// --set flag, and takes it out so that decoding does not report it again.
func (d *decoder) execForm(k *koanf.Koanf, line int) {
	if _, ok := k.Get("plugins.allow_exec").(bool); ok {
		d.settingsError(line, "plugins.allow_exec", execListForm)
		k.Delete("plugins.allow_exec")
	}
}

// checkAllowExec returns what is wrong with a plugins.allow_exec entry,
// "" when it is an absolute, clean path.
func checkAllowExec(p string) string {
	switch {
	case p == "true" || p == "false":
		return execListForm
	case strings.TrimSpace(p) == "":
		return "must not contain an empty path"
	case strings.ContainsRune(p, 0):
		return fmt.Sprintf("%q holds a NUL byte", p)
	case !filepath.IsAbs(p):
		return fmt.Sprintf(`%q is not an absolute path; list each program by its absolute path, like "/usr/bin/curl"`, p)
	case filepath.Clean(p) != p:
		return fmt.Sprintf("%q is not a clean path; write %q (thorp.exec compares argv[1] with it exactly)", p, filepath.Clean(p))
	}
	return ""
}

// checkAllowHost returns what is wrong with a plugins.allow_hosts entry,
// "" when it is a host name or an IP address alone.
func checkAllowHost(h string) string {
	bare := strings.Trim(h, "[]")
	switch {
	case strings.TrimSpace(h) == "":
		return "must not contain an empty host"
	case net.ParseIP(bare) != nil:
		return ""
	case strings.ContainsAny(h, "/:@?#*[] \t\r\n\x00"):
		return fmt.Sprintf(`%q is not a host name or IP address; write the host alone, like "hooks.slack.com" (no scheme, port, path or wildcard: any port of it is allowed)`, h)
	}
	return ""
}
