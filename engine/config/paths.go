package config

import "path/filepath"

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
