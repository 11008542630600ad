package proc

import "testing"

func TestCPUCounter_Update(t *testing.T) {
	a := Ident{PID: 10, StartTime: 100}
	b := Ident{PID: 11, StartTime: 101}
	bReused := Ident{PID: 11, StartTime: 999} // same pid, another process
	tests := []struct {
		name  string
		snaps []map[Ident]uint64
		want  []uint64 // total ticks after each snapshot
	}{
		{
			name:  "one process grows",
			snaps: []map[Ident]uint64{{a: 100}, {a: 150}, {a: 150}, {a: 400}},
			want:  []uint64{100, 150, 150, 400},
		},
		{
			name:  "child exits: total keeps what it counted",
			snaps: []map[Ident]uint64{{a: 100, b: 50}, {a: 110, b: 80}, {a: 120}},
			want:  []uint64{150, 190, 200},
		},
		{
			name:  "new child counts from its full value",
			snaps: []map[Ident]uint64{{a: 100}, {a: 100, b: 30}},
			want:  []uint64{100, 130},
		},
		{
			name:  "reused pid is a new process",
			snaps: []map[Ident]uint64{{a: 10, b: 50}, {a: 10, bReused: 5}},
			want:  []uint64{60, 65},
		},
		{
			name:  "a value going backwards adds nothing",
			snaps: []map[Ident]uint64{{a: 100}, {a: 90}, {a: 105}},
			want:  []uint64{100, 100, 105},
		},
		{
			name:  "empty snapshots (component down) keep the total",
			snaps: []map[Ident]uint64{{a: 100}, {}, nil, {b: 7}},
			want:  []uint64{100, 100, 100, 107},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c CPUCounter
			for i, s := range tt.snaps {
				secs := c.Update(s)
				if c.Ticks() != tt.want[i] {
					t.Fatalf("after snapshot %d: Ticks() = %d, want %d", i, c.Ticks(), tt.want[i])
				}
				if secs != float64(tt.want[i])/ClockTicks {
					t.Fatalf("after snapshot %d: Update() = %v, want %v", i, secs, float64(tt.want[i])/ClockTicks)
				}
			}
		})
	}
}

func TestCPUCounter_Update_DoesNotKeepSnapshot(t *testing.T) {
	a := Ident{PID: 10, StartTime: 100}
	var c CPUCounter
	snap := map[Ident]uint64{a: 100}
	c.Update(snap)
	snap[a] = 500 // caller reuses its map
	clear(snap)
	snap[a] = 120
	if got := c.Update(snap); got != 1.2 {
		t.Errorf("Update() = %v, want 1.2", got)
	}
}
