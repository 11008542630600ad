package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/thorp-dev/thorp/engine/drill"
	"github.com/thorp-dev/thorp/engine/proc"
)

// runner runs the workloads; every supervisor it launches is shut down
// before the workload that launched it returns.
type runner struct {
	tools
	dir      string // this run's scratch directory
	workload string // the built compare/workload binary
	app      string // app.js
	sleep    string // sleep(1)
}

// sups launches a fresh set of the compared supervisors under dir/name.
func (r *runner) sups(name string) []supervisor {
	return newSupervisors(r.tools, filepath.Join(r.dir, name))
}

// shutdownAll stops every supervisor in ss, one after another.
func shutdownAll(ss []supervisor) {
	for _, s := range ss {
		s.shutdown()
	}
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// stampsOf reads a stamp file's lines of one kind ("S", "E", "P", "T"),
// each split into its numbers.
func stampsOf(path, kind string) [][]int64 {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out [][]int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != kind {
			continue
		}
		var nums []int64
		for _, v := range fields[1:] {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				break
			}
			nums = append(nums, n)
		}
		if len(nums) == len(fields)-1 {
			out = append(out, nums)
		}
	}
	return out
}

// idle measures each supervisor's own CPU and RSS with n idle components
// (sleep) for every n in counts: without a memory limit under the three,
// and with a 1 GiB limit on every component under thorp and PM2 (each then
// samples every component's memory; supervisord has no limit, and its
// figure without one stands in its column). All of them run side by side
// through one window.
func (r *runner) idle(ctx context.Context, counts []int, window time.Duration) ([]row, error) {
	type inst struct {
		s     supervisor
		n     int
		limit int // MiB
	}
	var insts []inst
	var all []supervisor
	defer func() { shutdownAll(all) }()
	for _, limit := range []int{0, 1024} {
		for _, n := range counts {
			sups := r.sups(fmt.Sprintf("idle-%d-limit%d", n, limit))
			if limit > 0 {
				sups = sups[:2] // thorp, PM2
			}
			for _, s := range sups {
				progs := make([]program, n)
				for i := range progs {
					progs[i] = program{name: fmt.Sprintf("idle%d", i), argv: []string{r.sleep, "100000"}, memLimit: limit}
				}
				all = append(all, s)
				if err := s.launch(ctx, progs); err != nil {
					return nil, fmt.Errorf("%s with %d idle components: %w", s.label(), n, err)
				}
				root := s.own()[0]
				if err := waitUntil(ctx, 90*time.Second, fmt.Sprintf("%s's %d sleep processes", s.label(), n), func() bool {
					c := 0
					for _, d := range descendants(root) {
						if d.comm == "sleep" {
							c++
						}
					}
					return c == n
				}); err != nil {
					return nil, err
				}
				insts = append(insts, inst{s, n, limit})
			}
		}
	}
	if err := sleepCtx(ctx, 5*time.Second); err != nil { // the start bursts settle
		return nil, err
	}
	cpu := func(s supervisor) float64 {
		var sum float64
		for _, pid := range s.own() {
			sum += cpuSeconds(pid)
		}
		return sum
	}
	cpu0 := make([]float64, len(insts))
	for i, in := range insts {
		cpu0[i] = cpu(in.s)
	}
	t0 := time.Now()
	if err := sleepCtx(ctx, window); err != nil {
		return nil, err
	}
	elapsed := time.Since(t0).Seconds()
	var rows []row
	for _, limit := range []int{0, 1024} {
		with := ""
		if limit > 0 {
			with = ", a 1 GiB memory limit on each"
		}
		for _, n := range counts {
			cpuRow := row{figure: fmt.Sprintf("idle CPU, %d component(s)%s, %% of a core over %s", n, with, window), prec: 3}
			rssRow := row{figure: fmt.Sprintf("idle RSS, %d component(s)%s, MiB (thorp: + its fence process)", n, with), prec: 1}
			for i, in := range insts {
				if in.n != n || (in.limit != limit && in.s.label() != "supervisord") {
					continue
				}
				k := slices.Index(supLabels, in.s.label())
				cpuRow.set(k, (cpu(in.s)-cpu0[i])/elapsed*100)
				var rss int64
				var parts []string
				for _, pid := range in.s.own() {
					v, _ := proc.ReadVmRSS(pid)
					rss += v
					parts = append(parts, fmt.Sprintf("%.1f", float64(v)/(1<<20)))
				}
				rssRow.set(k, float64(rss)/(1<<20))
				if len(parts) > 1 { // thorp and its fence
					rssRow.notes[k] = strings.Join(parts, " + ")
				}
				if limit > 0 && in.s.label() == "supervisord" {
					cpuRow.notes[k], rssRow.notes[k] = "no limit: the same as above", "no limit: the same as above"
				}
			}
			rows = append(rows, cpuRow, rssRow)
		}
	}
	return rows, nil
}

// crash measures the time from a crashing child's last instruction to the
// next child's first, with each supervisor's fastest restart settings.
func (r *runner) crash(ctx context.Context) ([]row, error) {
	med := row{figure: "crash → respawn, median ms (child's last instruction → next child's first)", prec: 2}
	p90 := row{figure: "crash → respawn, p90 ms", prec: 2}
	for k, s := range r.sups("crash") {
		want := 50
		if s.label() == "supervisord" {
			want = 10 // about a second each
		}
		stamps := filepath.Join(r.dir, "crash-"+s.label()+".stamps")
		err := func() error {
			defer s.shutdown()
			if err := s.launch(ctx, []program{{name: "crash", argv: []string{r.workload, "crash"},
				env: map[string]string{"COMPARE_STAMPS": stamps}, fastCrash: true}}); err != nil {
				return err
			}
			return waitUntil(ctx, 90*time.Second, fmt.Sprintf("%d restarts under %s", want, s.label()), func() bool {
				return len(stampsOf(stamps, "S")) > want
			})
		}()
		if err != nil {
			return nil, err
		}
		starts, ends := stampsOf(stamps, "S"), stampsOf(stamps, "E")
		var lat []float64
		for i := 0; i+1 < len(starts) && i < len(ends) && i < want; i++ {
			lat = append(lat, float64(starts[i+1][0]-ends[i][0])/1e6)
		}
		if len(lat) < want/2 {
			return nil, fmt.Errorf("%s: only %d restarts stamped", s.label(), len(lat))
		}
		slices.Sort(lat)
		med.set(k, lat[len(lat)/2])
		p90.set(k, lat[int(float64(len(lat)-1)*0.9)])
		med.notes[k] = fmt.Sprintf("%d restarts", len(lat))
	}
	return []row{med, p90}, nil
}

// crashLoop runs a child that crashes at once under each supervisor's
// default restart settings, the three side by side for window, and counts
// the restarts and the first delays: what a user with defaults sees of a
// crash loop.
func (r *runner) crashLoop(ctx context.Context, window time.Duration) ([]row, error) {
	restarts := row{figure: fmt.Sprintf("crash loop with default settings: restarts in %s (delays before the first ones, s)", window), prec: 0, plain: true}
	sups := r.sups("crashloop")
	defer shutdownAll(sups)
	for _, s := range sups {
		stamps := filepath.Join(r.dir, "crashloop-"+s.label()+".stamps")
		if err := s.launch(ctx, []program{{name: "crash", argv: []string{r.workload, "crash"},
			env: map[string]string{"COMPARE_STAMPS": stamps}}}); err != nil {
			return nil, fmt.Errorf("%s: %w", s.label(), err)
		}
	}
	if err := sleepCtx(ctx, window); err != nil {
		return nil, err
	}
	for k, s := range sups {
		stamps := filepath.Join(r.dir, "crashloop-"+s.label()+".stamps")
		starts, ends := stampsOf(stamps, "S"), stampsOf(stamps, "E")
		restarts.set(k, float64(max(len(starts)-1, 0)))
		var delays []string
		for i := 0; i+1 < len(starts) && i < len(ends) && i < 6; i++ {
			delays = append(delays, fmt.Sprintf("%.2f", float64(starts[i+1][0]-ends[i][0])/1e9))
		}
		if len(starts) > 7 {
			delays = append(delays, "…")
		}
		restarts.notes[k] = strings.Join(delays, ", ")
	}
	return []row{restarts}, nil
}

// memory measures, for a child leaking 20 MiB/s against a 150 MiB limit
// (thorp's max_memory_restart and PM2's, every other setting at its
// default), the time from the child's RSS crossing the limit to its stop
// signal, and the peak RSS. thorp and PM2 run side by side; supervisord has
// no memory limit.
func (r *runner) memory(ctx context.Context, budget time.Duration) ([]row, error) {
	const limit = 150
	lat := row{figure: fmt.Sprintf("memory limit (%d MiB, leak 20 MiB/s) crossed → stop signal, median s", limit), prec: 2}
	worst := row{figure: "same, max s", prec: 2}
	peak := row{figure: "peak RSS of the leaking child, max MiB", prec: 0}
	sups := r.sups("memory")[:2] // thorp, PM2
	want := map[string]int{"thorp": 5, "PM2": 3}
	var wg sync.WaitGroup
	errs := make([]error, len(sups))
	for k, s := range sups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.shutdown()
			stamps := filepath.Join(r.dir, "memory-"+s.label()+".stamps")
			if err := s.launch(ctx, []program{{name: "leak", argv: []string{r.workload, "leak", "20"},
				env: map[string]string{"COMPARE_STAMPS": stamps}, memLimit: limit}}); err != nil {
				errs[k] = err
				return
			}
			l, pk, missed, err := leakRuns(ctx, stamps, limit<<20, want[s.label()], time.Now().Add(budget))
			if err != nil {
				errs[k] = fmt.Errorf("%s: %w", s.label(), err)
				return
			}
			if len(l) == 0 {
				errs[k] = fmt.Errorf("%s: no leaking run was stopped within %s", s.label(), budget)
				return
			}
			slices.Sort(l)
			lat.set(k, l[len(l)/2])
			worst.set(k, l[len(l)-1])
			peak.set(k, float64(pk)/(1<<20))
			lat.notes[k] = fmt.Sprintf("%d runs", len(l))
			if missed > 0 {
				lat.notes[k] += fmt.Sprintf(", %d not stopped by a signal", missed)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	const na = "n/a: no memory limit (superlance's memmon is not in Debian 12)"
	lat.notes[2], worst.notes[2], peak.notes[2] = na, na, na
	return []row{lat, worst, peak}, nil
}

// leakRuns follows the leaking child's runs through its stamps: for each
// new pid it reads VmRSS every 2 ms until the process is gone, noting when
// it first exceeded limit and its peak; the child's "T" stamp is when its
// stop signal arrived. It returns after want runs or at the deadline.
func leakRuns(ctx context.Context, stamps string, limit int64, want int, deadline time.Time) (lat []float64, peak int64, missed int, err error) {
	seen := map[int64]bool{}
	for len(lat)+missed < want && time.Now().Before(deadline) {
		var pid int64
		for _, p := range stampsOf(stamps, "P") {
			if !seen[p[0]] {
				pid = p[0]
				break
			}
		}
		if pid == 0 {
			if err := sleepCtx(ctx, 5*time.Millisecond); err != nil {
				return nil, 0, 0, err
			}
			continue
		}
		seen[pid] = true
		var crossed time.Time
		for time.Now().Before(deadline) {
			rss, err := proc.ReadVmRSS(int(pid))
			if err != nil {
				break
			}
			peak = max(peak, rss)
			if crossed.IsZero() && rss > limit {
				crossed = time.Now()
			}
			if err := sleepCtx(ctx, 2*time.Millisecond); err != nil {
				return nil, 0, 0, err
			}
		}
		if !time.Now().Before(deadline) {
			break // a run cut short by the budget is not counted
		}
		var term int64
		for _, t := range stampsOf(stamps, "T") {
			if t[0] == pid {
				term = t[1]
			}
		}
		if term == 0 || crossed.IsZero() {
			missed++
			continue
		}
		lat = append(lat, float64(term-crossed.UnixNano())/1e9)
	}
	return lat, peak, missed, nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// requests runs `rounds` drills against app.js under each supervisor: 4
// clients on fresh loopback connections for 6 s, the supervisor's restart
// command a third of the way in.
func (r *runner) requests(ctx context.Context, rounds int) ([]row, error) {
	failed := row{figure: fmt.Sprintf("failed requests across a restart under load (%d rounds)", rounds), prec: 0}
	gap := row{figure: "longest time without a successful response, max over rounds, ms", prec: 0}
	for k, s := range r.sups("requests") {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		url := fmt.Sprintf("http://127.0.0.1:%d/", port)
		var total, fails int
		var worst float64
		var firstErr string
		err = func() error {
			defer s.shutdown()
			if err := s.launch(ctx, []program{{name: "app", argv: []string{r.app}, instances: 2, port: port}}); err != nil {
				return err
			}
			if err := waitUntil(ctx, 30*time.Second, s.label()+"'s app answering", func() bool { return get(url) == nil }); err != nil {
				return err
			}
			if err := sleepCtx(ctx, time.Second); err != nil { // every instance up
				return err
			}
			for range rounds {
				rep, err := drill.Run(ctx, drill.Options{URL: url, Duration: 6 * time.Second, Concurrency: 4,
					Restart: func(ctx context.Context) error { return s.restart(ctx, "app") }})
				if err != nil {
					return err
				}
				if rep.RestartError != "" {
					return fmt.Errorf("%s restart: %s", s.label(), rep.RestartError)
				}
				if !rep.Covered() {
					return fmt.Errorf("%s: the load did not cover the restart", s.label())
				}
				total += rep.Requests
				fails += rep.Failed
				if rep.Failed > 0 && len(rep.Errors) > 0 && firstErr == "" {
					firstErr = rep.Errors[0]
				}
				worst = max(worst, rep.DowntimeMS)
			}
			return nil
		}()
		if err != nil {
			return nil, err
		}
		failed.set(k, float64(fails))
		failed.notes[k] = fmt.Sprintf("of %d", total)
		if firstErr != "" {
			failed.notes[k] += "; first error: " + strings.ReplaceAll(firstErr, "|", "/")
		}
		gap.set(k, worst)
	}
	failed.notes[0] += "; thorp reload, 2 processes behind its proxy (http)"
	failed.notes[1] += "; pm2 reload, cluster mode, 2 workers"
	failed.notes[2] += "; supervisorctl restart, 1 process (no shared port)"
	return []row{failed, gap}, nil
}

func get(url string) error {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// logs measures a component writing n 100-byte lines, one write(2) each,
// as fast as it can, with its stdout log rotated every rotateAt bytes:
// throughput from the writer's first instruction until its last line is in
// a log file, then the lines missing or damaged across all the files.
func (r *runner) logs(ctx context.Context, n int, rotateAt int64) ([]row, error) {
	const lineSize = 100
	tput := row{figure: fmt.Sprintf("log throughput, %d lines of %d B, rotation every %d MiB, MB/s to the last line", n, lineSize, rotateAt>>20), prec: 0}
	lost := row{figure: "lines lost (missing or damaged) across those rotations", prec: 0}

	// The redirect, for reference: the writer's own time with stdout on a file.
	stamps := filepath.Join(r.dir, "logs-redirect.stamps")
	out, err := os.Create(filepath.Join(r.dir, "redirect.log"))
	if err != nil {
		return nil, err
	}
	syscall.Sync()
	cmd := exec.CommandContext(ctx, r.workload, "lines", strconv.Itoa(n))
	cmd.Env = append(os.Environ(), "COMPARE_STAMPS="+stamps)
	cmd.Stdout = out
	err = cmd.Run()
	out.Close()
	os.Remove(out.Name())
	if err != nil {
		return nil, fmt.Errorf("redirect: %w", err)
	}
	st, en := stampsOf(stamps, "S"), stampsOf(stamps, "E")
	if len(st) != 1 || len(en) != 1 {
		return nil, fmt.Errorf("redirect: stamps %v %v", st, en)
	}
	redirect := float64(n*lineSize) / (float64(en[0][0]-st[0][0]) / 1e9) / 1e6

	last := []byte(fmt.Sprintf("%09d %s\n", n-1, strings.Repeat("x", lineSize-11)))
	for k, s := range r.sups("logs") {
		stamps := filepath.Join(r.dir, "logs-"+s.label()+".stamps")
		var secs float64
		var lostN, files int
		var lastLost bool
		err := func() error {
			defer s.shutdown()
			if err := s.launch(ctx, []program{{name: "writer", argv: []string{r.workload, "lines", strconv.Itoa(n)},
				env: map[string]string{"COMPARE_STAMPS": stamps}, manual: true, oneShot: true, rotateAt: rotateAt}}); err != nil {
				return err
			}
			syscall.Sync()
			// The CLI's answer does not matter (thorp start may see the
			// writer already done): the stamps say when it ran.
			_ = s.start(ctx, "writer")
			if err := waitUntil(ctx, 20*time.Second, s.label()+"'s writer starting", func() bool { return len(stampsOf(stamps, "S")) > 0 }); err != nil {
				return err
			}
			// Polled every 2 ms: at most 1 % of the shortest run (thorp's,
			// about 0.5 s). When the last line never arrives (lost), the
			// end is the last time the files grew, once the writer has
			// exited and they have not grown for 2 s.
			var end, grew time.Time
			var size int64
			for deadline := time.Now().Add(3 * time.Minute); end.IsZero(); {
				now := time.Now()
				if endsWithAny(s.logGlob("writer"), last) {
					end = now
					break
				}
				if cur := totalSize(s.logGlob("writer")); cur != size {
					size, grew = cur, now
				}
				switch {
				case len(stampsOf(stamps, "E")) > 0 && now.Sub(grew) > 2*time.Second:
					end, lastLost = grew, true
				case now.After(deadline):
					return fmt.Errorf("the log files still grew 3 minutes after the start")
				default:
					if err := sleepCtx(ctx, 2*time.Millisecond); err != nil {
						return err
					}
				}
			}
			secs = float64(end.UnixNano()-stampsOf(stamps, "S")[0][0]) / 1e9
			// Let rotation in flight finish (pm2-logrotate copies, then truncates).
			if err := settle(ctx, s.logGlob("writer"), time.Second, 30*time.Second); err != nil {
				return err
			}
			var err error
			lostN, err = missingLines(s.logGlob("writer"), n, lineSize)
			names, _ := filepath.Glob(s.logGlob("writer"))
			files = len(names)
			return err
		}()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.label(), err)
		}
		tput.set(k, float64(n*lineSize)/secs/1e6)
		tput.notes[k] = fmt.Sprintf("%.2f of the redirect", float64(n*lineSize)/secs/1e6/redirect)
		if lastLost {
			tput.notes[k] += "; the last line was lost: timed to the files' last growth"
		}
		lost.set(k, float64(lostN))
		lost.notes[k] = fmt.Sprintf("of %d, in %d files", n, files)
	}
	tput.notes[0] += "; max_size, compress = false, timestamps = false"
	tput.notes[1] += "; pm2-logrotate 3.0.0, workerInterval 1 s (its minimum), max_size"
	tput.notes[2] += "; stdout_logfile_maxbytes"
	tput.figure += fmt.Sprintf(" (redirect to a file: %.0f MB/s)", redirect)
	return []row{tput, lost}, nil
}

// endsWithAny reports whether a file matching glob ends with tail.
func endsWithAny(glob string, tail []byte) bool {
	files, _ := filepath.Glob(glob)
	buf := make([]byte, len(tail))
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		fi, err := fh.Stat()
		if err == nil && fi.Size() >= int64(len(tail)) {
			if _, err := fh.ReadAt(buf, fi.Size()-int64(len(tail))); err == nil && bytes.Equal(buf, tail) {
				fh.Close()
				return true
			}
		}
		fh.Close()
	}
	return false
}

// settle waits until the total size of the files matching glob has not
// changed for quiet.
func settle(ctx context.Context, glob string, quiet, timeout time.Duration) error {
	prev, since := totalSize(glob), time.Now()
	return waitUntil(ctx, timeout, "the log files to settle", func() bool {
		if cur := totalSize(glob); cur != prev {
			prev, since = cur, time.Now()
		}
		return time.Since(since) >= quiet
	})
}

// totalSize is the size of the files matching glob together.
func totalSize(glob string) int64 {
	files, _ := filepath.Glob(glob)
	var sum int64
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			sum += fi.Size()
		}
	}
	return sum
}

// missingLines counts the numbered lines 0..n-1 not found whole in any
// file matching glob (a damaged line counts as missing).
func missingLines(glob string, n, lineSize int) (int, error) {
	files, err := filepath.Glob(glob)
	if err != nil {
		return 0, err
	}
	seen := make([]bool, n)
	found := 0
	filler := strings.Repeat("x", lineSize-11)
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return 0, err
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if len(line) != lineSize-1 || line[9] != ' ' || line[10:] != filler {
				continue
			}
			i, err := strconv.Atoi(line[:9])
			if err != nil || i < 0 || i >= n || seen[i] {
				continue
			}
			seen[i] = true
			found++
		}
		err = sc.Err()
		fh.Close()
		if err != nil {
			return 0, err
		}
	}
	return n - found, nil
}
