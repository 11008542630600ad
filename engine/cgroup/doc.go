// Package cgroup puts each of thorp's component instances in a cgroup of its
// own, and reads and kills through it.
//
// Layout detection (Detect, ParseMountinfo, ParseProcCgroup) is pure: it
// reads /proc/self/mountinfo and /proc/self/cgroup and finds the cgroup2
// hierarchy (tracking, cgroup.kill, cpu.stat, and memory where the memory
// controller is on v2) and the v1 memory hierarchy (memory on hybrid and
// pure v1 hosts). Plan says, without creating anything, which mode each part
// would use and why (thorp check); Open acts on it (thorp run) and falls
// back to the process-tree walk where it cannot create cgroups.
//
// A Manager owns the cgroups it created: a root, <thorp's cgroup>/thorp-PID,
// with a directory per component and one per instance's process in it. It
// removes only those, and only when they are empty (rmdir). Manager and
// Group are safe for concurrent use.
package cgroup
