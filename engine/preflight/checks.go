package preflight

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/sockfile"
	"github.com/thorp-dev/thorp/engine/spawn"
	"github.com/thorp-dev/thorp/rotate"
)

// minFreeLogSpace is the free space below which the log dir draws a warning.
const minFreeLogSpace = 100 * config.MiB

// maxSocketPath is the longest unix socket path Linux accepts (sun_path
// holds 108 bytes including the terminating NUL).
const maxSocketPath = 107

// checkCommand returns "" when the component's program can be executed.
func checkCommand(comp *config.Component, env []string) string {
	if len(comp.Command.Argv) == 0 {
		return "is empty"
	}
	prog := comp.Command.Argv[0]
	if strings.Contains(prog, "/") {
		path := prog
		if !filepath.IsAbs(path) {
			path = filepath.Join(comp.Cwd, path)
		}
		return checkExecutable(path)
	}
	pathList, dirs := searchPath(comp, env)
	for _, dir := range dirs {
		if checkExecutable(filepath.Join(dir, prog)) == "" {
			return ""
		}
	}
	return fmt.Sprintf("%q not found in PATH (%s)", prog, pathList)
}

// searchPath returns the PATH comp runs with (its env's, else thorp's)
// and its directories as the kernel's exec search sees them from comp's
// working directory: an empty entry is ".", a relative one is under cwd.
func searchPath(comp *config.Component, env []string) (string, []string) {
	pathList, ok := comp.Env["PATH"]
	if !ok {
		pathList = lookupEnv(env, "PATH")
	}
	var dirs []string
	for _, dir := range filepath.SplitList(pathList) {
		if dir == "" {
			dir = "."
		}
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(comp.Cwd, dir)
		}
		dirs = append(dirs, dir)
	}
	return pathList, dirs
}

// checkExecutable returns "" when path is an executable regular file.
func checkExecutable(path string) string {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return path + " does not exist"
	case err != nil:
		return fmt.Sprintf("cannot use %s: %v", path, err)
	case fi.IsDir():
		return path + " is a directory, not a program"
	case !fi.Mode().IsRegular():
		return path + " is not a regular file"
	case fi.Mode().Perm()&0o111 == 0 || unix.Access(path, unix.X_OK) != nil:
		return fmt.Sprintf("%s is not executable (mode %s); run chmod +x on it", path, fi.Mode().Perm())
	}
	return ""
}

func lookupEnv(env []string, name string) string {
	val := ""
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			val = v
		}
	}
	return val
}

// checkCwd returns "" when dir is an existing directory.
func checkCwd(dir string) string {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return dir + " does not exist"
	case err != nil:
		return fmt.Sprintf("cannot use %s: %v", dir, err)
	case !fi.IsDir():
		return dir + " is not a directory"
	}
	return ""
}

// checkPluginPath returns "" when dir, settings.plugins.path, is a
// directory or does not exist (fine while nothing is loaded from it: the
// Lua evaluation reports a plugin file or module it cannot find).
func checkPluginPath(dir string) string {
	fi, err := os.Stat(dir)
	switch {
	case missing(err):
		return ""
	case err != nil:
		return fmt.Sprintf("cannot use %s: %v", dir, unwrapPathError(err))
	case !fi.IsDir():
		return dir + " is a file, not a directory (plugin files and modules are read from it)"
	}
	return ""
}

// checkWritableDir returns "" when thorp can write files in dir: either dir
// exists and a probe file can be created and removed there, or dir does not
// exist yet and its nearest existing parent is a writable directory (thorp
// creates the rest). Each directory is checked once per Check call.
func (c *checker) checkWritableDir(dir string) string {
	if dir == "" || c.dirs[dir] {
		return ""
	}
	c.dirs[dir] = true
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return dir + " is a file, not a directory"
	case err == nil:
		f, err := os.CreateTemp(dir, ".thorp-check-*")
		if err != nil {
			return fmt.Sprintf("%s is not writable: %v", dir, unwrapPathError(err))
		}
		name := f.Name()
		f.Close()
		os.Remove(name)
		return ""
	case !missing(err):
		return fmt.Sprintf("cannot use %s: %v", dir, err)
	}
	parent := dir
	for {
		next := filepath.Dir(parent)
		if next == parent {
			return dir + " cannot be created: no parent directory exists"
		}
		parent = next
		fi, err := os.Stat(parent)
		if missing(err) {
			continue
		}
		switch {
		case err != nil:
			return fmt.Sprintf("%s cannot be created: %v", dir, err)
		case !fi.IsDir():
			return fmt.Sprintf("%s cannot be created: %s is a file, not a directory", dir, parent)
		case unix.Access(parent, unix.W_OK|unix.X_OK) != nil:
			return fmt.Sprintf("%s cannot be created: %s is not writable", dir, parent)
		}
		return ""
	}
}

// missing reports whether a stat error means the path does not exist,
// including a path that runs through a file.
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func parentDir(path string) string {
	if path == "" {
		return ""
	}
	return filepath.Dir(path)
}

// checkSocketPath returns "" when path fits in a unix socket address.
func checkSocketPath(path string) string {
	if len(path) > maxSocketPath {
		return fmt.Sprintf("%s is %d bytes long; unix socket paths must be at most %d (use a shorter path)", path, len(path), maxSocketPath)
	}
	return ""
}

// checkSocketFile returns "" when thorp may bind the unix socket at path
// (engine/sockfile's rule, the one thorp run applies): nothing there, a
// stale socket, or a socket the running thorp of this config holds.
func (c *checker) checkSocketFile(path string) string {
	err := sockfile.Check(path)
	if err == nil || errors.Is(err, sockfile.ErrLive) && c.opts.HeldBySelf != nil && c.opts.HeldBySelf("unix://"+path) {
		return ""
	}
	return err.Error()
}

// checkLogFile returns "" when path can be a log file (rotate's rule: not
// a symlink, nothing but a regular file).
func checkLogFile(path string) string {
	if err := rotate.CheckPath(path); err != nil {
		return err.Error()
	}
	return ""
}

// checkComponentLogs checks the component's output and error log paths;
// a problem is reported under log_file or error_file when that key names
// the file, else under logs. With {instance} in a path, the files of the
// instances the config declares are checked, the first problem of each key
// reported.
func (c *checker) checkComponentLogs(comp *config.Component, errf func(key, msg string)) {
	n := 1
	if comp.PerInstanceLogs() {
		n = comp.Instances
	}
	reported := map[string]bool{}
	for i := range n {
		for _, tmpl := range slices.Compact([]string{comp.OutLog(), comp.ErrLog()}) {
			key := "logs"
			switch tmpl {
			case comp.LogFile:
				key = "log_file"
			case comp.ErrorFile:
				key = "error_file"
			}
			path := strings.ReplaceAll(tmpl, config.InstanceToken, strconv.Itoa(i))
			if msg := checkLogFile(path); msg != "" && !reported[key] {
				reported[key] = true
				errf(key, msg)
			}
		}
	}
}

// checkIdentity checks the user or group key (which) of a component with
// spawn.Credential, the rule thorp run applies too (see Identities).
func checkIdentity(which, userName, groupName string) string {
	var err error
	switch which {
	case "user":
		_, err = spawn.Credential(userName, "")
	case "group":
		_, err = spawn.Credential("", groupName)
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// checkAddr returns "" when thorp can bind the socket address s
// ("tcp://host:port" or "unix:///path") for who: a TCP address as
// checkBind says, a unix path when no one else in the config binds it
// (the files rule checks what is at the path).
func (c *checker) checkAddr(s, who string) string {
	if addr, ok := strings.CutPrefix(s, "tcp://"); ok {
		return c.checkBind(addr, who)
	}
	if path, ok := strings.CutPrefix(s, "unix://"); ok {
		key := "unix://" + filepath.Clean(path)
		if other, dup := c.binds[key]; dup {
			return fmt.Sprintf("%s is also used by %s", s, other)
		}
		c.binds[key] = who
	}
	return ""
}

// checkBind returns "" when addr can be listened on, or is held by the
// running thorp of this config; a port below 1024 that the kernel refuses
// is reported as privileged. who names the config entry for messages
// about an address used twice.
func (c *checker) checkBind(addr, who string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q is not host:port", addr)
	}
	if port == "0" {
		return ""
	}
	key := net.JoinHostPort(host, port)
	if other, dup := c.binds[key]; dup {
		return fmt.Sprintf("%s is also used by %s", addr, other)
	}
	c.binds[key] = who
	if c.opts.HeldBySelf != nil && c.opts.HeldBySelf(addr) {
		return ""
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			if c.opts.HeldBy != nil {
				if holder := c.opts.HeldBy(addr); holder != "" {
					return fmt.Sprintf("port %s is busy: %s is held by %s; give this config an address of its own, or stop that thorp", port, addr, holder)
				}
			}
			return fmt.Sprintf("port %s is busy: %s is already in use by another program", port, addr)
		}
		if n, _ := strconv.Atoi(port); n < 1024 && errors.Is(err, syscall.EACCES) {
			return fmt.Sprintf("port %s is privileged (below 1024) and this thorp may not bind it: run thorp as root or with CAP_NET_BIND_SERVICE (setcap cap_net_bind_service=+ep on the thorp binary), or use a port of 1024 or more", port)
		}
		return fmt.Sprintf("cannot listen on %s: %v", addr, err)
	}
	ln.Close()
	return ""
}

// isLoopback reports whether a host:port only listens on loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// freeSpace returns the bytes available to unprivileged users on the file
// system holding path. A variable so tests can fake a full disk.
var freeSpace = func(path string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// checkDiskSpace returns a warning when the file system of dir (or of its
// nearest existing parent) has less than minFreeLogSpace available.
func checkDiskSpace(dir string) string {
	path := dir
	for {
		if _, err := os.Stat(path); err == nil {
			break
		}
		next := filepath.Dir(path)
		if next == path {
			return ""
		}
		path = next
	}
	free, err := freeSpace(path)
	if err != nil || free >= uint64(minFreeLogSpace) {
		return ""
	}
	return fmt.Sprintf("only %s free for logs on the file system of %s (below %s); rotated logs may not fit", config.Size(free), path, minFreeLogSpace)
}

func quote(s string) string { return strconv.Quote(s) }
