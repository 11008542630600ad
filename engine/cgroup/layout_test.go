package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
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

// fakeHierarchy makes dir look like a cgroup directory with these
// controllers available (cgroup.controllers) and cgroup.kill when kill.
func fakeHierarchy(t *testing.T, dir, controllers string, kill bool) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"cgroup.controllers": controllers + "\n", "cgroup.subtree_control": "\n", "cgroup.procs": ""}
	if kill {
		files["cgroup.kill"] = ""
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMakePlan_Layouts(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		layout                  func(root string) Layout
		tracking, kill, memory  string
		memoryHigh, cpuByCgroup bool
	}{
		{"pure v2 with the memory controller", func(root string) Layout {
			fakeHierarchy(t, filepath.Join(root, "unified", "own"), "cpu memory pids", true)
			return Layout{Unified: filepath.Join(root, "unified", "own"), UnifiedMount: filepath.Join(root, "unified")}
		}, "cgroup v2", "cgroup.kill", "v2 memory controller", true, true},
		{"hybrid: cgroup2 without controllers, v1 memory", func(root string) Layout {
			fakeHierarchy(t, filepath.Join(root, "unified", "own"), "", true)
			fakeHierarchy(t, filepath.Join(root, "memory", "own"), "", false)
			return Layout{Unified: filepath.Join(root, "unified", "own"), UnifiedMount: filepath.Join(root, "unified"),
				Memory: filepath.Join(root, "memory", "own"), MemoryMount: filepath.Join(root, "memory"), V1: []string{filepath.Join(root, "memory")}}
		}, "cgroup v2", "cgroup.kill", "v1 memory controller", false, true},
		{"cgroup2 before Linux 5.14", func(root string) Layout {
			fakeHierarchy(t, filepath.Join(root, "unified", "own"), "", false)
			return Layout{Unified: filepath.Join(root, "unified", "own"), UnifiedMount: filepath.Join(root, "unified")}
		}, "cgroup v2", "SIGKILL to each process in cgroup.procs", "process tree walk", false, true},
		{"pure v1", func(root string) Layout {
			fakeHierarchy(t, filepath.Join(root, "memory", "own"), "", false)
			return Layout{Memory: filepath.Join(root, "memory", "own"), MemoryMount: filepath.Join(root, "memory"), V1: []string{filepath.Join(root, "memory")}}
		}, "cgroup v1 memory hierarchy", "SIGKILL to each process in cgroup.procs", "v1 memory controller", false, false},
		{"not writable", func(root string) Layout {
			return Layout{Unified: filepath.Join(root, "gone"), UnifiedMount: root}
		}, "process tree", "SIGKILL to the process group", "process tree walk", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := MakePlan(tc.layout(t.TempDir()))
			lines := strings.Join(p.Lines(), "\n")
			if !strings.HasPrefix(p.Tracking.By, tc.tracking) || !strings.HasPrefix(p.Kill.By, tc.kill) ||
				!strings.HasPrefix(p.Memory.By, tc.memory) || p.MemoryHigh != tc.memoryHigh || p.CPU.Cgroup != tc.cpuByCgroup {
				t.Errorf("plan:\n%s", lines)
			}
		})
	}
}

func TestParsePIDs_LeavesOutSelf(t *testing.T) {
	b := []byte(fmt.Sprintf("12\n%d\n34\n\n", os.Getpid()))
	if got := parsePIDs(b, nil); !slices.Equal(got, []int{12, 34}) {
		t.Fatalf("parsePIDs = %v, want [12 34]: never the calling process", got)
	}
}
