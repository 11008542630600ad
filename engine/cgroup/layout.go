package cgroup

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Mount is one cgroup filesystem of /proc/self/mountinfo.
type Mount struct {
	// Point is where it is mounted; Root is the directory of the
	// hierarchy mounted there ("/" unless a container shows only part).
	Point, Root string
	// V2 is true for cgroup2.
	V2 bool
	// Controllers are a v1 hierarchy's options other than rw, ro and
	// name=…: its controllers ("memory", "cpu", …) and flags.
	Controllers []string
}

// ParseMountinfo returns the cgroup and cgroup2 mounts listed in r, in the
// format of /proc/self/mountinfo (proc(5)), in order.
func ParseMountinfo(r io.Reader) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		// id parent major:minor root point options [optional…] - fstype source superoptions
		f := strings.Fields(sc.Text())
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 6 || sep < 0 || sep+2 >= len(f) {
			continue
		}
		m := Mount{Root: unescapeMount(f[3]), Point: unescapeMount(f[4])}
		switch f[sep+1] {
		case "cgroup2":
			m.V2 = true
		case "cgroup":
			if sep+3 < len(f) {
				for _, o := range strings.Split(f[sep+3], ",") {
					if o != "rw" && o != "ro" && !strings.Contains(o, "=") {
						m.Controllers = append(m.Controllers, o)
					}
				}
			}
		default:
			continue
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ProcCgroups is a process's cgroup in each hierarchy, from
// /proc/PID/cgroup: V2 is the "0::" line's path ("" when there is none),
// V1 maps each v1 controller to its path.
type ProcCgroups struct {
	V2    string
	HasV2 bool
	V1    map[string]string
}

// ParseProcCgroup reads r in the format of /proc/PID/cgroup (cgroups(7)).
func ParseProcCgroup(r io.Reader) (ProcCgroups, error) {
	out := ProcCgroups{V1: map[string]string{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		id, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		ctrls, path, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		if id == "0" && ctrls == "" {
			out.V2, out.HasV2 = path, true
			continue
		}
		for _, c := range strings.Split(ctrls, ",") {
			if c != "" {
				out.V1[c] = path
			}
		}
	}
	return out, sc.Err()
}

// Layout is where this process's cgroups are on the host's filesystem.
type Layout struct {
	// Unified is the directory of this process's cgroup in the cgroup2
	// hierarchy ("" when no cgroup2 is mounted or the process is not in
	// it), under UnifiedMount.
	Unified, UnifiedMount string
	// Memory is the directory of its cgroup in the v1 memory hierarchy
	// ("" when none), under MemoryMount.
	Memory, MemoryMount string
	// V1 lists the mount points of every v1 hierarchy, to tell a hybrid
	// host from a pure v2 one.
	V1 []string
}

// Kind names the layout: "v2" (cgroup2 only), "hybrid" (v1 controllers
// and a cgroup2 hierarchy), "v1" (no cgroup2) or "none".
func (l Layout) Kind() string {
	switch {
	case l.UnifiedMount != "" && len(l.V1) > 0:
		return "hybrid"
	case l.UnifiedMount != "":
		return "v2"
	case len(l.V1) > 0:
		return "v1"
	}
	return "none"
}

// Describe says where the hierarchies are, for thorp check and the log.
func (l Layout) Describe() string {
	switch l.Kind() {
	case "hybrid":
		return fmt.Sprintf("hybrid: cgroup2 at %s, %d v1 hierarchies (memory at %s)", l.UnifiedMount, len(l.V1), orNone(l.MemoryMount))
	case "v2":
		return "cgroup v2 at " + l.UnifiedMount
	case "v1":
		return fmt.Sprintf("cgroup v1 only: %d hierarchies (memory at %s)", len(l.V1), orNone(l.MemoryMount))
	}
	return "no cgroup filesystem mounted"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Detect finds the layout from a mountinfo and a /proc/PID/cgroup of the
// same process. A cgroup path outside its mount's root (a container that
// sees only part of a hierarchy) is taken relative to that root.
func Detect(mountinfo, proccgroup io.Reader) (Layout, error) {
	mounts, err := ParseMountinfo(mountinfo)
	if err != nil {
		return Layout{}, fmt.Errorf("mountinfo: %w", err)
	}
	pc, err := ParseProcCgroup(proccgroup)
	if err != nil {
		return Layout{}, fmt.Errorf("cgroup: %w", err)
	}
	var l Layout
	for _, m := range mounts {
		if m.V2 {
			if l.UnifiedMount == "" {
				l.UnifiedMount = m.Point
				if pc.HasV2 {
					l.Unified = under(m, pc.V2)
				}
			}
			continue
		}
		l.V1 = append(l.V1, m.Point)
		for _, c := range m.Controllers {
			if c == "memory" && l.MemoryMount == "" {
				l.MemoryMount = m.Point
				if p, ok := pc.V1["memory"]; ok {
					l.Memory = under(m, p)
				}
			}
		}
	}
	return l, nil
}

// under is the directory of cgroup path p in mount m.
func under(m Mount, p string) string {
	if m.Root != "/" {
		if rel, err := filepath.Rel(m.Root, p); err == nil && !strings.HasPrefix(rel, "..") {
			p = "/" + rel
		}
	}
	return filepath.Join(m.Point, p)
}

// DetectSelf is Detect on this process's /proc/self files.
func DetectSelf() (Layout, error) {
	mi, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return Layout{}, err
	}
	defer mi.Close()
	cg, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return Layout{}, err
	}
	defer cg.Close()
	return Detect(mi, cg)
}
