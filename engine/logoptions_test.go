package engine

import (
	"testing"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/rotate"
)

func TestLogOptions_Defaults(t *testing.T) {
	o := LogOptions(config.Defaults().Logs)
	want := rotate.Options{MaxSize: 10_000_000, Rotate: "daily", RetainDays: 30, Compress: true,
		Timestamps: true, Format: "text", MaxLine: 64 << 10, Overflow: "block"}
	if o.MaxSize != want.MaxSize || o.Rotate != want.Rotate || o.RetainDays != want.RetainDays ||
		o.Compress != want.Compress || o.Timestamps != want.Timestamps || o.Format != want.Format ||
		o.MaxLine != want.MaxLine || o.Overflow != want.Overflow || o.RetainFiles != 0 {
		t.Errorf("LogOptions(defaults) = %+v, want %+v", o, want)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
}
