package cgroup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func detectFixture(t *testing.T, name string) Layout {
	t.Helper()
	mi, err := os.Open(filepath.Join("testdata", "mountinfo-"+name))
	if err != nil {
		t.Fatal(err)
	}
	defer mi.Close()
	cg, err := os.Open(filepath.Join("testdata", "cgroup-"+name))
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	l, err := Detect(mi, cg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestDetect_Layouts(t *testing.T) {
	for _, tc := range []struct {
		fixture, kind                           string
		unified, unifiedMount, memory, memMount string
	}{
		{"hybrid", "hybrid", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/memory/process_api/abc", "/sys/fs/cgroup/memory"},
		{"v2", "v2", "/sys/fs/cgroup/system.slice/thorp.service", "/sys/fs/cgroup", "", ""},
		{"v1", "v1", "", "", "/sys/fs/cgroup/memory/system.slice/thorp.service", "/sys/fs/cgroup/memory"},
		// A container sees only its part of the hierarchy: its cgroup
		// path is relative to the mount's root; \040 is a space.
		{"container", "v2", "/sys/fs/cgroup/my dir/app", "/sys/fs/cgroup/my dir", "", ""},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			l := detectFixture(t, tc.fixture)
			if l.Kind() != tc.kind {
				t.Errorf("kind %q, want %q (%+v)", l.Kind(), tc.kind, l)
			}
			if l.Unified != tc.unified || l.UnifiedMount != tc.unifiedMount {
				t.Errorf("cgroup2 %q at %q, want %q at %q", l.Unified, l.UnifiedMount, tc.unified, tc.unifiedMount)
			}
			if l.Memory != tc.memory || l.MemoryMount != tc.memMount {
				t.Errorf("memory %q at %q, want %q at %q", l.Memory, l.MemoryMount, tc.memory, tc.memMount)
			}
		})
	}
}

func TestParseProcCgroup(t *testing.T) {
	pc, err := ParseProcCgroup(strings.NewReader("5:memory:/a\n3:cpu,cpuacct:/b\n1:name=systemd:/c\n0::/d\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !pc.HasV2 || pc.V2 != "/d" || pc.V1["memory"] != "/a" || pc.V1["cpu"] != "/b" || pc.V1["cpuacct"] != "/b" || pc.V1["name=systemd"] != "/c" {
		t.Errorf("got %+v", pc)
	}
	pc, _ = ParseProcCgroup(strings.NewReader("5:memory:/a\n"))
	if pc.HasV2 {
		t.Errorf("a v1-only file has a v2 path: %+v", pc)
	}
}

func TestDetect_NoCgroups(t *testing.T) {
	l, err := Detect(strings.NewReader("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"), strings.NewReader(""))
	if err != nil || l.Kind() != "none" {
		t.Fatalf("%+v %v", l, err)
	}
	p := MakePlan(l)
	if p.Tracking.Cgroup || p.Memory.Cgroup || p.Kill.Cgroup || p.CPU.Cgroup || p.MemoryHigh {
		t.Errorf("a host without cgroups plans to use them: %q", p.Lines())
	}
}

func TestMemoryFrom(t *testing.T) {
	m, err := memoryFrom([]byte("10485760\n"), []byte("anon 1\nfile 2\ninactive_file 4194304\nactive_file 1\n"), "inactive_file")
	if err != nil || m.Bytes != 6291456 || m.Usage != 10485760 || m.InactiveFile != 4194304 {
		t.Errorf("%+v %v", m, err)
	}
	if _, err := memoryFrom([]byte("1\n"), []byte("total_cache 3\n"), "total_inactive_file"); err == nil {
		t.Error("a memory.stat without the key is read")
	}
	if m, _ := memoryFrom([]byte("1\n"), []byte("inactive_file 5\n"), "inactive_file"); m.Bytes != 0 {
		t.Errorf("negative memory not clamped: %+v", m)
	}
}
