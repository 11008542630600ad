package engine

import (
	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/rotate"
)

// LogOptions maps the settings of one log (settings.logs with a component's
// overrides applied) to the log writer's options; Clock and Warn are left
// nil. It is the one place config meets rotate: rotate imports no other
// thorp package. It is safe for concurrent use.
func LogOptions(ls config.LogSettings) rotate.Options {
	return rotate.Options{
		MaxSize:     int64(ls.MaxSize),
		Rotate:      ls.Rotate,
		RetainDays:  ls.RetainDays,
		RetainFiles: ls.RetainFiles,
		Compress:    ls.Compress,
		Timestamps:  ls.Timestamps,
		Format:      ls.Format,
		MaxLine:     int(ls.MaxLine),
		Overflow:    ls.Overflow,
	}
}
