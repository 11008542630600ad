package rotate

import (
	"testing"
	"time"
)

func TestOptions_Validate_Table(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		ok   bool
	}{
		{"zero", Options{}, true},
		{"daily json drop", Options{Rotate: "daily", Format: "json", Overflow: "drop"}, true},
		{"duration", Options{Rotate: "6h"}, true},
		{"bad rotate", Options{Rotate: "weekly"}, false},
		{"too short", Options{Rotate: "10ms"}, false},
		{"shorter than MinInterval", Options{Rotate: "59s"}, false},
		{"MinInterval", Options{Rotate: "1m"}, true},
		{"bad format", Options{Format: "xml"}, false},
		{"bad overflow", Options{Overflow: "spill"}, false},
		{"negative size", Options{MaxSize: -1}, false},
		{"negative retain", Options{RetainDays: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.opts.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestSchedule_Next_Table(t *testing.T) {
	loc := time.FixedZone("X", 2*3600)
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		rotate string
		now    string
		want   string
	}{
		{"daily", "2024-03-09 23:59:59", "2024-03-10 00:00:00"},
		{"daily", "2024-03-10 00:00:00", "2024-03-11 00:00:00"},
		{"daily", "2024-12-31 12:00:00", "2025-01-01 00:00:00"},
		{"hourly", "2024-03-09 23:10:00", "2024-03-10 00:00:00"},
		{"hourly", "2024-03-09 10:00:00", "2024-03-09 11:00:00"},
		{"90m", "2024-03-09 10:00:00", "2024-03-09 11:30:00"},
	}
	for _, tt := range tests {
		s, err := parseSchedule(tt.rotate)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.next(at(tt.now)); !got.Equal(at(tt.want)) {
			t.Errorf("%s next(%s) = %v, want %s", tt.rotate, tt.now, got, tt.want)
		}
	}
	if s, _ := parseSchedule("none"); !s.next(time.Now()).IsZero() {
		t.Error("none has a boundary")
	}
}
