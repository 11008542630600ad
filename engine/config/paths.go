package config

import (
	"path/filepath"
	"strconv"
	"strings"
)

// OutLog is the file the component's stdout goes to: log_file, or
// <logs.dir>/<name>-out.log.
func (c *Component) OutLog() string {
	if c.LogFile != "" {
		return c.LogFile
	}
	return filepath.Join(c.Logs.Dir, c.Name+"-out.log")
}

// ErrLog is the file the component's stderr goes to: OutLog with
// merge_logs, else error_file, or <logs.dir>/<name>-error.log.
func (c *Component) ErrLog() string {
	if c.MergeLogs {
		return c.OutLog()
	}
	if c.ErrorFile != "" {
		return c.ErrorFile
	}
	return filepath.Join(c.Logs.Dir, c.Name+"-error.log")
}

// InstanceToken in log_file or error_file stands for the instance number
// (THORP_INSTANCE), giving each instance a file of its own.
const InstanceToken = "{instance}"

// PerInstanceLogs reports whether an instance's stdout or stderr goes to a
// file of its own: log_file or error_file holds InstanceToken.
func (c *Component) PerInstanceLogs() bool {
	return strings.Contains(c.OutLog(), InstanceToken) || strings.Contains(c.ErrLog(), InstanceToken)
}

// OutLogFor is OutLog of instance i: InstanceToken replaced by i.
func (c *Component) OutLogFor(i int) string {
	return strings.ReplaceAll(c.OutLog(), InstanceToken, strconv.Itoa(i))
}

// ErrLogFor is ErrLog of instance i: InstanceToken replaced by i.
func (c *Component) ErrLogFor(i int) string {
	return strings.ReplaceAll(c.ErrLog(), InstanceToken, strconv.Itoa(i))
}
