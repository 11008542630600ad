package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/thorp-dev/thorp/engine/config"
)

// TestConfigDiscovery_NamesTheThorpOfThisHost: from a directory where no
// config is found, a command names the thorp answering on the address a
// thorp has when its config does not say ($THORP_HTTP here, so the test
// does not take 9615) and the config it runs; that config then works
// from there. Nothing answering there: only the places looked at.
func TestConfigDiscovery_NamesTheThorpOfThisHost(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	cfg := writeConfig(t, `settings { http = "`+addr+`" }
component "sleeper" { command = "exec sleep 300" }
`)
	r := startThorpRunning(t, cfg)
	elsewhere := t.TempDir()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "THORP_HTTP=" + addr}

	_, errOut, code := thorpIn(t, elsewhere, env, "status")
	want := fmt.Sprintf("thorp status: the thorp answering on %s (pid %d) runs %s: give -c %s, or export THORP_CONFIG=%s for every command.\n",
		addr, r.cmd.Process.Pid, cfg, cfg, cfg)
	if code != exitFailed || !strings.Contains(errOut, "no config file found; looked at ") || !strings.HasSuffix(errOut, want) {
		t.Errorf("status from elsewhere: exit %d\n%s\nwant it to end with\n%s", code, errOut, want)
	}
	if out, errOut, code := thorpIn(t, elsewhere, append(env, "THORP_CONFIG="+cfg), "status"); code != exitOK || !strings.Contains(out, "sleeper") {
		t.Errorf("status with the THORP_CONFIG it suggested: exit %d\n%s%s", code, out, errOut)
	}

	// Nothing there: no suggestion.
	env[len(env)-1] = fmt.Sprintf("THORP_HTTP=127.0.0.1:%d", freeTCPPort(t))
	if _, errOut, code := thorpIn(t, elsewhere, env, "status"); code != exitFailed || strings.Contains(errOut, "answering on") {
		t.Errorf("status from elsewhere, no thorp on THORP_HTTP: exit %d\n%s", code, errOut)
	}
}

// TestDefaults_HTTPIsClearOfAppPorts: a config that does not set http
// serves on 127.0.0.1:9615 (pm2-web's port), not 3001, the port apps (and
// the seed's own service) listen on; a second thorp's check then names
// the first (TestCheck_PortHeldByAnotherThorp).
func TestDefaults_HTTPIsClearOfAppPorts(t *testing.T) {
	if got := config.Defaults().HTTP; got != "127.0.0.1:9615" {
		t.Errorf("default http %q, want 127.0.0.1:9615", got)
	}
	if !strings.Contains(starterConfig(nil), `-- http = "127.0.0.1:9615"`) {
		t.Errorf("thorp init's starter does not show the default http")
	}
}
