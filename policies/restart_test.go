package policies

import (
	"math/rand"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// exited is an exit with code after a run of up.
func exited(code int, up time.Duration) Exit {
	return Exit{Code: code, Started: t0, Ended: t0.Add(up)}
}

// killed is a run of up ended by sig.
func killed(sig syscall.Signal, up time.Duration) Exit {
	return Exit{Code: -1, Signal: sig, Started: t0, Ended: t0.Add(up)}
}

// stockPolicy is DESIGN.md's defaults.
func stockPolicy() RestartPolicy {
	return RestartPolicy{
		Autorestart:       AutorestartAlways,
		RestartDelay:      time.Second,
		ExpBackoffMax:     30 * time.Second,
		MinUptime:         10 * time.Second,
		MaxRestarts:       10,
		RetryErroredAfter: 5 * time.Minute,
	}
}

func TestDecideExit_Autorestart(t *testing.T) {
	long := time.Minute
	tests := []struct {
		autorestart string
		exit        Exit
		want        Action
	}{
		{AutorestartAlways, exited(0, long), Restart},
		{AutorestartAlways, exited(1, long), Restart},
		{AutorestartAlways, killed(syscall.SIGKILL, long), Restart},
		{AutorestartOnFailure, exited(0, long), Stop},
		{AutorestartOnFailure, exited(1, long), Restart},
		{AutorestartOnFailure, killed(syscall.SIGKILL, long), Restart},
		{AutorestartOnFailure, killed(syscall.SIGTERM, long), Restart},
		{AutorestartNever, exited(0, long), Stop},
		{AutorestartNever, exited(1, long), Stop},
		{AutorestartNever, killed(syscall.SIGKILL, long), Stop},
		{"", exited(0, long), Restart},
		{"", exited(1, long), Restart},
	}
	for _, tt := range tests {
		t.Run(tt.autorestart+"/"+tt.exit.String(), func(t *testing.T) {
			p := stockPolicy()
			p.Autorestart = tt.autorestart
			d, h := DecideExit(p, RunHistory{ShortRuns: 3, Delay: 8 * time.Second}, tt.exit)
			if d.Action != tt.want {
				t.Fatalf("action = %v, want %v (%s)", d.Action, tt.want, d.Why)
			}
			if d.ShortRun {
				t.Errorf("ShortRun = true for a %s run", long)
			}
			switch tt.want {
			case Restart:
				if d.Delay != p.RestartDelay {
					t.Errorf("delay = %s, want restart_delay %s after a good run", d.Delay, p.RestartDelay)
				}
				if h != (RunHistory{Delay: p.RestartDelay}) {
					t.Errorf("history = %+v, want reset with delay %s", h, p.RestartDelay)
				}
			case Stop:
				if d.Delay != 0 || h != (RunHistory{}) {
					t.Errorf("stop: delay %s, history %+v; want 0 and reset", d.Delay, h)
				}
			}
			if !strings.HasPrefix(d.Why, tt.exit.String()) {
				t.Errorf("why %q does not start with %q", d.Why, tt.exit.String())
			}
		})
	}
}

func TestDecideExit_StopExitCodes(t *testing.T) {
	tests := []struct {
		name        string
		autorestart string
		codes       []int
		exit        Exit
		want        Action
		why         string
	}{
		{"listed code", AutorestartAlways, []int{3, 42}, exited(42, time.Second), Stop, "exit code 42 is in stop_exit_codes: staying stopped"},
		{"other code", AutorestartAlways, []int{3, 42}, exited(4, time.Minute), Restart, "exit code 4; restarting in 1s"},
		{"zero listed", AutorestartAlways, []int{0}, exited(0, time.Minute), Stop, "exit code 0 is in stop_exit_codes: staying stopped"},
		{"signal never matches", AutorestartAlways, []int{-1, 9}, killed(syscall.SIGKILL, time.Minute), Restart, "killed by SIGKILL; restarting in 1s"},
		{"on-failure listed", AutorestartOnFailure, []int{2}, exited(2, time.Minute), Stop, "exit code 2 is in stop_exit_codes: staying stopped"},
		{"empty list", AutorestartAlways, nil, exited(3, time.Minute), Restart, "exit code 3; restarting in 1s"},
		{"short run listed", AutorestartAlways, []int{3}, exited(3, 0), Stop, "exit code 3 is in stop_exit_codes: staying stopped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := stockPolicy()
			p.Autorestart = tt.autorestart
			p.StopExitCodes = tt.codes
			d, _ := DecideExit(p, RunHistory{}, tt.exit)
			if d.Action != tt.want || d.Why != tt.why {
				t.Fatalf("got %v %q, want %v %q", d.Action, d.Why, tt.want, tt.why)
			}
		})
	}
}

// step is one exit in a sequence and what must come of it.
type step struct {
	up     time.Duration
	action Action
	delay  time.Duration
	short  bool
}

// runSteps feeds the steps through DecideExit, carrying the history, and
// returns the final history.
func runSteps(t *testing.T, p RestartPolicy, h RunHistory, steps []step) RunHistory {
	t.Helper()
	for i, s := range steps {
		var d RestartDecision
		d, h = DecideExit(p, h, exited(1, s.up))
		if d.Action != s.action || d.Delay != s.delay || d.ShortRun != s.short {
			t.Fatalf("step %d (run %s): got %v in %s short=%v (%s); want %v in %s short=%v",
				i+1, s.up, d.Action, d.Delay, d.ShortRun, d.Why, s.action, s.delay, s.short)
		}
	}
	return h
}

func TestDecideExit_Backoff(t *testing.T) {
	const short, long = time.Second, time.Minute
	s := time.Second
	ms := time.Millisecond
	tests := []struct {
		name  string
		p     func(p *RestartPolicy)
		steps []step
	}{
		{
			name: "doubles to the cap and resets after a long run",
			p:    func(p *RestartPolicy) { p.MaxRestarts = 0 },
			steps: []step{
				{short, Restart, 1 * s, true},
				{short, Restart, 2 * s, true},
				{short, Restart, 4 * s, true},
				{short, Restart, 8 * s, true},
				{short, Restart, 16 * s, true},
				{short, Restart, 30 * s, true},
				{short, Restart, 30 * s, true},
				{long, Restart, 1 * s, false},
				{short, Restart, 1 * s, true},
				{short, Restart, 2 * s, true},
			},
		},
		{
			name: "run of exactly min_uptime is good",
			steps: []step{
				{short, Restart, 1 * s, true},
				{short, Restart, 2 * s, true},
				{10 * s, Restart, 1 * s, false},
				{10*s - 1, Restart, 1 * s, true},
			},
		},
		{
			name: "restart_delay 0 restarts at once, then backs off from 100ms",
			p:    func(p *RestartPolicy) { p.RestartDelay = 0; p.ExpBackoffMax = 500 * ms; p.MaxRestarts = 0 },
			steps: []step{
				{short, Restart, 0, true},
				{short, Restart, 100 * ms, true},
				{short, Restart, 200 * ms, true},
				{short, Restart, 400 * ms, true},
				{short, Restart, 500 * ms, true},
				{long, Restart, 0, false},
				{short, Restart, 0, true},
				{short, Restart, 100 * ms, true},
			},
		},
		{
			name: "restart_delay 0 with a cap under 100ms",
			p:    func(p *RestartPolicy) { p.RestartDelay = 0; p.ExpBackoffMax = 30 * ms },
			steps: []step{
				{short, Restart, 0, true},
				{short, Restart, 30 * ms, true},
				{short, Restart, 30 * ms, true},
			},
		},
		{
			name: "exp_backoff_max 0 disables backoff",
			p:    func(p *RestartPolicy) { p.RestartDelay = 0; p.ExpBackoffMax = 0 },
			steps: []step{
				{short, Restart, 0, true},
				{short, Restart, 0, true},
				{short, Restart, 0, true},
			},
		},
		{
			name: "exp_backoff_max under restart_delay keeps restart_delay",
			p:    func(p *RestartPolicy) { p.RestartDelay = 4 * s; p.ExpBackoffMax = 2 * s },
			steps: []step{
				{short, Restart, 4 * s, true},
				{short, Restart, 4 * s, true},
				{short, Restart, 4 * s, true},
			},
		},
		{
			name: "cap that is not a power of two of the delay",
			p:    func(p *RestartPolicy) { p.RestartDelay = 4 * s; p.ExpBackoffMax = 10 * s },
			steps: []step{
				{short, Restart, 4 * s, true},
				{short, Restart, 8 * s, true},
				{short, Restart, 10 * s, true},
				{short, Restart, 10 * s, true},
			},
		},
		{
			name: "min_uptime 0: no run is short",
			p:    func(p *RestartPolicy) { p.MinUptime = 0; p.MaxRestarts = 1 },
			steps: []step{
				{0, Restart, 1 * s, false},
				{0, Restart, 1 * s, false},
				{ms, Restart, 1 * s, false},
				{0, Restart, 1 * s, false},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := stockPolicy()
			if tt.p != nil {
				tt.p(&p)
			}
			runSteps(t, p, RunHistory{}, tt.steps)
		})
	}
}

func TestDecideExit_MaxRestarts(t *testing.T) {
	for _, n := range []int{1, 2, 3, 10} {
		t.Run(ordinal(n), func(t *testing.T) {
			p := stockPolicy()
			p.MaxRestarts = n
			h := RunHistory{}
			for i := 1; i <= n; i++ {
				var d RestartDecision
				d, h = DecideExit(p, h, exited(1, time.Second))
				want := Restart
				if i == n {
					want = Errored
				}
				if d.Action != want {
					t.Fatalf("short run %d of %d: %v (%s), want %v", i, n, d.Action, d.Why, want)
				}
				if h.ShortRuns != i {
					t.Fatalf("short run %d: history counts %d", i, h.ShortRuns)
				}
				if want == Errored && d.Delay != 0 {
					t.Errorf("errored with delay %s", d.Delay)
				}
			}
		})
	}
	t.Run("a good run resets the count", func(t *testing.T) {
		p := stockPolicy()
		p.MaxRestarts = 3
		runSteps(t, p, RunHistory{}, []step{
			{time.Second, Restart, time.Second, true},
			{time.Second, Restart, 2 * time.Second, true},
			{time.Minute, Restart, time.Second, false},
			{time.Second, Restart, time.Second, true},
			{time.Second, Restart, 2 * time.Second, true},
			{time.Second, Errored, 0, true},
		})
	})
	t.Run("0 is unlimited", func(t *testing.T) {
		p := stockPolicy()
		p.MaxRestarts = 0
		h := RunHistory{}
		for i := range 1000 {
			var d RestartDecision
			d, h = DecideExit(p, h, exited(1, 0))
			if d.Action != Restart {
				t.Fatalf("short run %d: %v", i+1, d.Action)
			}
		}
	})
	t.Run("retry after errored: one short run errors again, a good run resets", func(t *testing.T) {
		p := stockPolicy()
		p.MaxRestarts = 2
		h := runSteps(t, p, RunHistory{}, []step{
			{0, Restart, time.Second, true},
			{0, Errored, 0, true},
		})
		h2 := runSteps(t, p, h, []step{{0, Errored, 0, true}})
		if h2.ShortRuns != 3 {
			t.Errorf("short runs = %d, want 3", h2.ShortRuns)
		}
		runSteps(t, p, h, []step{{time.Minute, Restart, time.Second, false}})
	})
}

func TestDecideExit_FirstRestartDelay(t *testing.T) {
	for _, delay := range []time.Duration{0, time.Millisecond, time.Second, 4 * time.Second, time.Hour} {
		for _, up := range []time.Duration{0, time.Second, time.Hour} {
			p := stockPolicy()
			p.RestartDelay = delay
			d, h := DecideExit(p, RunHistory{}, exited(1, up))
			if d.Action != Restart || d.Delay != delay || h.Delay != delay {
				t.Errorf("restart_delay %s, run %s: %v in %s (history %+v), want restart in %s",
					delay, up, d.Action, d.Delay, h, delay)
			}
		}
	}
}

func TestDecideExit_Requested(t *testing.T) {
	p := stockPolicy()
	busy := RunHistory{ShortRuns: 4, Delay: 8 * time.Second}
	tests := []struct {
		name string
		exit Exit
		want RunHistory
		why  string
	}{
		{"short run keeps the history", Exit{Code: 0, Started: t0, Ended: t0.Add(time.Second), Requested: true}, busy, "stopped on request (exit code 0)"},
		{"long run resets the history", Exit{Code: -1, Signal: syscall.SIGKILL, Started: t0, Ended: t0.Add(time.Minute), Requested: true}, RunHistory{}, "stopped on request (killed by SIGKILL)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, h := DecideExit(p, busy, tt.exit)
			want := RestartDecision{Action: Stop, Why: tt.why}
			if d != want || h != tt.want {
				t.Fatalf("got %+v, %+v; want %+v, %+v", d, h, want, tt.want)
			}
		})
	}
}

func TestDecideExit_Why(t *testing.T) {
	p := stockPolicy()
	p.RestartDelay = 500 * time.Millisecond
	h := RunHistory{}
	var whys []string
	for range 3 {
		var d RestartDecision
		d, h = DecideExit(p, h, exited(1, time.Second))
		whys = append(whys, d.Why)
	}
	p.MaxRestarts = 0
	d, _ := DecideExit(p, h, killed(syscall.SIGSEGV, 0))
	whys = append(whys, d.Why)
	p.MaxRestarts = 4
	d, _ = DecideExit(p, RunHistory{ShortRuns: 3}, exited(2, 0))
	whys = append(whys, d.Why)
	p.RestartDelay = 0
	d, _ = DecideExit(p, RunHistory{}, killed(syscall.Signal(77), time.Hour))
	whys = append(whys, d.Why)
	want := []string{
		"exit code 1; restarting in 500ms (1st short run of 10)",
		"exit code 1; restarting in 1s (2nd short run of 10)",
		"exit code 1; restarting in 2s (3rd short run of 10)",
		"killed by SIGSEGV; restarting in 4s (4th short run)",
		"exit code 2; errored after 4 short runs in a row (each under min_uptime 10s)",
		"killed by signal 77; restarting now",
	}
	if !slices.Equal(whys, want) {
		t.Fatalf("whys:\n%s\nwant:\n%s", strings.Join(whys, "\n"), strings.Join(want, "\n"))
	}
}

func TestDecideExit_ClockSkew(t *testing.T) {
	// An exit that ended "before" it started is a zero-length run.
	p := stockPolicy()
	d, h := DecideExit(p, RunHistory{}, Exit{Code: 1, Started: t0, Ended: t0.Add(-time.Hour)})
	if d.Action != Restart || !d.ShortRun || h.ShortRuns != 1 {
		t.Fatalf("got %+v, %+v", d, h)
	}
}

func TestErroredRetryAt(t *testing.T) {
	tests := []struct {
		after  time.Duration
		wantOK bool
		want   time.Time
	}{
		{0, false, time.Time{}},
		{-time.Second, false, time.Time{}},
		{5 * time.Minute, true, t0.Add(5 * time.Minute)},
		{time.Millisecond, true, t0.Add(time.Millisecond)},
	}
	for _, tt := range tests {
		p := stockPolicy()
		p.RetryErroredAfter = tt.after
		at, ok := ErroredRetryAt(p, t0)
		if ok != tt.wantOK || !at.Equal(tt.want) {
			t.Errorf("retry_errored_after %s: got %v %v, want %v %v", tt.after, at, ok, tt.want, tt.wantOK)
		}
	}
}

func TestAction_String(t *testing.T) {
	tests := map[Action]string{Restart: "restart", Stop: "stop", Errored: "errored", 0: "action(0)"}
	for a, want := range tests {
		if got := a.String(); got != want {
			t.Errorf("%d: %q, want %q", int(a), got, want)
		}
	}
}

func TestOrdinal(t *testing.T) {
	tests := map[int]string{1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 10: "10th", 11: "11th",
		12: "12th", 13: "13th", 21: "21st", 22: "22nd", 23: "23rd", 101: "101st", 111: "111th", 112: "112th"}
	for n, want := range tests {
		if got := ordinal(n); got != want {
			t.Errorf("ordinal(%d) = %q, want %q", n, got, want)
		}
	}
}

// checkDecision asserts the invariants every decision must keep.
func checkDecision(t *testing.T, p RestartPolicy, d RestartDecision, h RunHistory) {
	t.Helper()
	limit := max(p.RestartDelay, p.ExpBackoffMax, 0)
	if d.Delay < 0 || d.Delay > limit {
		t.Fatalf("delay %s outside [0, %s] for %+v", d.Delay, limit, p)
	}
	if d.Action != Restart && d.Delay != 0 {
		t.Fatalf("%v with delay %s", d.Action, d.Delay)
	}
	if d.Action < Restart || d.Action > Errored {
		t.Fatalf("invalid action %d", d.Action)
	}
	if h.ShortRuns < 0 || h.Delay < 0 || h.Delay > limit {
		t.Fatalf("bad next history %+v", h)
	}
	if d.Why == "" {
		t.Fatal("empty why")
	}
}

func FuzzDecideExit(f *testing.F) {
	f.Add(int64(time.Second), int64(30*time.Second), int64(10*time.Second), 10, 3, int64(4*time.Second), int64(time.Second), 1, 0, uint8(0), false)
	f.Add(int64(0), int64(0), int64(0), 0, 0, int64(0), int64(0), 0, 9, uint8(1), false)
	f.Add(int64(-5), int64(-7), int64(-1), -3, -4, int64(-9), int64(-1), -1, 15, uint8(2), true)
	f.Add(int64(1<<62), int64(1<<62+1), int64(1<<62), 0, 1<<62, int64(1<<62), int64(1), 1, 0, uint8(0), false)
	f.Fuzz(func(t *testing.T, delay, expMax, minUp int64, maxRestarts, shortRuns int, hDelay, up int64, code, sig int, mode uint8, requested bool) {
		p := RestartPolicy{
			Autorestart:   []string{AutorestartAlways, AutorestartOnFailure, AutorestartNever, ""}[mode%4],
			RestartDelay:  time.Duration(delay),
			ExpBackoffMax: time.Duration(expMax),
			MinUptime:     time.Duration(minUp),
			MaxRestarts:   maxRestarts,
			StopExitCodes: []int{3},
		}
		h := RunHistory{ShortRuns: shortRuns, Delay: time.Duration(hDelay)}
		e := Exit{Code: code, Signal: syscall.Signal(sig), Started: t0, Ended: t0.Add(time.Duration(up)), Requested: requested}
		d, next := DecideExit(p, h, e)
		if requested {
			if d.Action != Stop || d.Delay != 0 || d.ShortRun {
				t.Fatalf("requested exit: %+v", d)
			}
			return
		}
		checkDecision(t, p, d, next)
	})
}

// TestDecideExit_Property drives random policies through random sequences of
// exits, carrying the history, and checks the invariants at every step.
func TestDecideExit_Property(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	durs := []time.Duration{0, time.Millisecond, 100 * time.Millisecond, time.Second, 4 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute}
	pick := func() time.Duration { return durs[rng.Intn(len(durs))] }
	for range 2000 {
		p := RestartPolicy{
			RestartDelay:  pick(),
			ExpBackoffMax: pick(),
			MinUptime:     pick(),
			MaxRestarts:   rng.Intn(12),
		}
		h := RunHistory{}
		shortRuns, prevDelay := 0, time.Duration(-1)
		for range 40 {
			d, next := DecideExit(p, h, exited(1, pick()))
			checkDecision(t, p, d, next)
			if d.ShortRun {
				shortRuns++
			} else {
				shortRuns = 0
			}
			if next.ShortRuns != shortRuns {
				t.Fatalf("%+v: counted %d short runs, want %d", p, next.ShortRuns, shortRuns)
			}
			if (d.Action == Errored) != (p.MaxRestarts > 0 && shortRuns >= p.MaxRestarts) {
				t.Fatalf("%+v: %v after %d short runs", p, d.Action, shortRuns)
			}
			if d.Action == Errored {
				break
			}
			// While runs stay short the delay never shrinks.
			if d.ShortRun && shortRuns > 1 && d.Delay < prevDelay {
				t.Fatalf("%+v: delay shrank from %s to %s", p, prevDelay, d.Delay)
			}
			prevDelay = d.Delay
			h = next
		}
	}
}

func TestReason_CountsTowardMaxRestarts(t *testing.T) {
	want := []Reason{"crash", "memory", "health", "watchdog", "manual", "reload", "cron", "config", "exit", "watch"}
	if !slices.Equal(Reasons, want) {
		t.Fatalf("Reasons = %v, want DESIGN order %v", Reasons, want)
	}
	for _, r := range Reasons {
		if got := r.CountsTowardMaxRestarts(); got != (r == ReasonCrash || r == ReasonExit) {
			t.Errorf("%s counts = %v", r, got)
		}
	}
}

func TestExit_Reason(t *testing.T) {
	for _, tt := range []struct {
		e    Exit
		want Reason
	}{
		{Exit{Code: 0}, ReasonExit},
		{Exit{Code: 1}, ReasonCrash},
		{Exit{Code: -1, Signal: syscall.SIGKILL}, ReasonCrash},
	} {
		if got := tt.e.Reason(); got != tt.want {
			t.Errorf("%s: Reason() = %s, want %s", tt.e, got, tt.want)
		}
	}
}
