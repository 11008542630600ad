package main

import (
	"context"
	"log/slog"
	"sync"
)

// maxEarlyLuaLines bounds the lines kept before thorp's log opens.
const maxEarlyLuaLines = 1000

// luaLogger writes what thorp.lua logs (print, thorp.log, thorp.alert) to
// thorp's log, tagged lua=thorp.lua:LINE; level "alert" is a warning.
// thorp run evaluates thorp.lua before it knows where its log goes, so
// the lines of the first evaluation are kept (the first maxEarlyLuaLines)
// and written once open is called. Safe for concurrent use.
type luaLogger struct {
	mu    sync.Mutex
	log   *slog.Logger
	early []luaLine
}

type luaLine struct{ level, msg, where string }

// Log is plugins.Options.Log.
func (l *luaLogger) Log(level, msg, where string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.log == nil {
		if len(l.early) < maxEarlyLuaLines {
			l.early = append(l.early, luaLine{level, msg, where})
		}
		return
	}
	l.write(luaLine{level, msg, where})
}

// open sends the kept lines and every later one to log.
func (l *luaLogger) open(log *slog.Logger) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log = log
	for _, line := range l.early {
		l.write(line)
	}
	l.early = nil
}

func (l *luaLogger) write(line luaLine) {
	lvl := slog.LevelInfo
	_ = lvl.UnmarshalText([]byte(line.level))
	if line.level == "alert" {
		lvl = slog.LevelWarn
	}
	l.log.Log(context.Background(), lvl, line.msg, "lua", line.where)
}
