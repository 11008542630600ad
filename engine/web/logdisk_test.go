package web

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/thorp-dev/thorp/engine"
)

// The families the alert rules of examples/observability need beyond the
// component ones: health, memory per instance (the limit is per instance)
// and the space left where the logs are written.
func TestServer_Metrics_HealthInstanceMemoryLogFilesystem(t *testing.T) {
	dir := t.TempDir()
	odd := filepath.Join(t.TempDir(), `lo"gs\`+"\n")
	if err := os.Mkdir(odd, 0o755); err != nil {
		t.Fatal(err)
	}
	api := comp("api", engine.StateRunning)
	api.Instances = []engine.InstanceStatus{{Index: 0, MemoryBytes: 10 << 20}, {Index: 1, MemoryBytes: 140 << 20}}
	api.Logs[0].Path = filepath.Join(dir, "api.out.log")
	api.Logs[1].Path = filepath.Join(dir, "api.err.log")
	sick := comp("sick", engine.StateRunning)
	sick.Healthy = false
	sick.Logs[0].Path = filepath.Join(odd, "sick.log")
	sick.Logs[1].Path = filepath.Join(dir, "gone", "sick.err.log") // no such directory: no series
	broken := comp("broken", engine.StateErrored)
	src := &fakeSource{}
	src.set(api, sick, broken)
	_, base := startServer(t, src, Options{})
	_, samples := scrape(t, base)

	for name, want := range map[string]float64{"api": 1, "sick": 0, "broken": 0} {
		if s := find(samples, "thorp_component_healthy", map[string]string{"component": name}); len(s) != 1 || s[0].value != want {
			t.Errorf("thorp_component_healthy{component=%q} = %v, want %v", name, s, want)
		}
	}
	for inst, want := range map[string]float64{"0": 10 << 20, "1": 140 << 20} {
		if s := find(samples, "thorp_instance_memory_bytes", map[string]string{"component": "api", "index": inst}); len(s) != 1 || s[0].value != want {
			t.Errorf("thorp_instance_memory_bytes{index=%s} = %v, want %v", inst, s, want)
		}
	}
	for _, d := range []string{dir, odd} {
		var st unix.Statfs_t
		if err := unix.Statfs(d, &st); err != nil {
			t.Fatal(err)
		}
		size := float64(uint64(st.Blocks) * uint64(st.Bsize))
		sz := find(samples, "thorp_log_filesystem_size_bytes", map[string]string{"dir": d})
		av := find(samples, "thorp_log_filesystem_avail_bytes", map[string]string{"dir": d})
		if len(sz) != 1 || sz[0].value != size {
			t.Errorf("size of %q = %v, want %v", d, sz, size)
		}
		if len(av) != 1 || av[0].value <= 0 || av[0].value > size {
			t.Errorf("avail of %q = %v, want between 0 and %v", d, av, size)
		}
	}
	if n := len(find(samples, "thorp_log_filesystem_size_bytes", nil)); n != 2 {
		t.Errorf("%d filesystem series, want 2 (two directories that exist, each once)", n)
	}
}
