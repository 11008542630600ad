package config

import (
	"syscall"
	"time"
)

// Defaults returns the settings a thorp.lua gets for every key it leaves out
// (DESIGN.md). Relative paths are made absolute by Decode. Each call returns
// a fresh value; it is safe for concurrent use.
func Defaults() Settings {
	return Settings{
		HTTP:      "127.0.0.1:9615",
		HTTPHosts: []string{},
		Control:   ".thorp/thorp.sock",
		State:     ".thorp/state.json",
		Logs: LogSettings{
			Dir:         "logs",
			MaxSize:     10 * 1000 * 1000,
			Rotate:      "daily",
			RetainDays:  30,
			RetainFiles: 0,
			Compress:    true,
			Timestamps:  true,
			Format:      "text",
			MaxLine:     64 * KiB,
			Overflow:    "block",
		},
		Plugins: PluginSettings{
			Timeout:     200 * time.Millisecond,
			AllowExec:   []string{},
			AllowHosts:  []string{},
			Path:        "plugins",
			MaxFailures: 5,
			MaxMemory:   64 * MiB,
		},
		Alerts: DefaultAlerts(),
		MetricsPush: MetricsPush{
			Interval: 15 * time.Second,
		},
	}
}

// DefaultComponent returns a component with every DESIGN.md default applied
// and no name, command or logs (Decode fills Logs from the settings). Each
// call returns a fresh value; it is safe for concurrent use.
func DefaultComponent() Component {
	return Component{
		Autorestart:       AutorestartAlways,
		RestartDelay:      time.Second,
		ExpBackoffMax:     30 * time.Second,
		MinUptime:         10 * time.Second,
		MaxRestarts:       10,
		RetryErroredAfter: 5 * time.Minute,
		StopSignal:        Signal(syscall.SIGTERM),
		KillTimeout:       5 * time.Second,
		MemoryInterval:    time.Second,
		MemorySamples:     2,
		MemoryMeasure:     "rss",
		Ready:             "started",
		ListenTimeout:     10 * time.Second,
		RestartMode:       "stop-start",
		Instances:         1,
		Rolling:           1,
		Autostart:         true,
	}
}

// DefaultProxy returns the defaults of a proxy table: tcp mode, the port in
// $PORT, 30s to drain, 10s in the queue.
func DefaultProxy() Proxy {
	return Proxy{Mode: ProxyTCP, PortEnv: "PORT", DrainTimeout: 30 * time.Second, QueueTimeout: 10 * time.Second}
}

// DefaultWatch returns the defaults of a watch table: the cwd, a second's
// delay, nothing ignored beyond DefaultWatchIgnore.
func DefaultWatch() Watch {
	return Watch{Paths: []string{"."}, Ignore: []string{}, Delay: time.Second}
}

// DefaultHealth returns the defaults of a health check: every 5s, 1s timeout,
// restart after 3 misses in a row.
func DefaultHealth() Health {
	return Health{Interval: 5 * time.Second, Timeout: time.Second, Failures: 3}
}
