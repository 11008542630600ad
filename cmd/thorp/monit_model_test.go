package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/thorp-dev/thorp/engine"
)

// fakeMonitSource answers the model's requests from memory and records
// the actions it is asked for.
type fakeMonitSource struct {
	mu    sync.Mutex
	comps []engine.Status
	acts  []string
	reads int
}

func (f *fakeMonitSource) Components(context.Context) ([]engine.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	return f.comps, nil
}

func (f *fakeMonitSource) Act(_ context.Context, action string, names []string, _ bool) ([]engine.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acts = append(f.acts, action+" "+strings.Join(names, ","))
	return nil, nil
}

const mib = 1 << 20

// monitFixture is two components: api (one process, 100 MiB of a 150 MiB
// limit, three restarts, out and err logs) and web (two instances).
func monitFixture(t *testing.T) []engine.Status {
	t.Helper()
	dir := t.TempDir()
	out, errLog := filepath.Join(dir, "api-out.log"), filepath.Join(dir, "api-err.log")
	var b strings.Builder
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "out line %02d\n", i)
	}
	b.WriteString("evil \x1b[2J\x1b]0;title\x07 line\tend\n")
	b.WriteString(strings.Repeat("long", 100) + "\n")
	if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(errLog, []byte("oops: disk on fire\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return []engine.Status{
		{Name: "api", State: engine.StateRunning, PID: 4121, UptimeSeconds: 75, Restarts: 3, LastRestartReason: "memory",
			MemoryBytes: 100 * mib, MemoryLimitBytes: 150 * mib, CPUPercent: 12.5,
			Instances: []engine.InstanceStatus{{Index: 0, PID: 4121, State: engine.StateRunning, MemoryBytes: 100 * mib, Restarts: 3}},
			Logs:      []engine.LogStatus{{Stream: "out", Path: out, Lines: 42}, {Stream: "err", Path: errLog, Lines: 1}}},
		{Name: "web", State: engine.StateRunning, Restarts: 1, MemoryBytes: 30 * mib, MemoryLimitBytes: 64 * mib, CPUPercent: 1,
			Instances: []engine.InstanceStatus{
				{Index: 0, PID: 5001, State: engine.StateRunning, MemoryBytes: 20 * mib, CPUPercent: 0.5, Restarts: 1},
				{Index: 1, PID: 5002, State: engine.StateBackoff, MemoryBytes: 10 * mib, CPUPercent: 0.5},
			}},
	}
}

// newTestMonit is a model over src at width×height, started as Bubble Tea
// starts it, its first log read done. It has no colours, so its view is
// plain text.
func newTestMonit(t *testing.T, src *fakeMonitSource, width, height int) monitModel {
	t.Helper()
	m := newMonitModel(context.Background(), src, time.Millisecond, newMonitStyles(false), src.comps, time.Date(2026, 11, 27, 10, 0, 0, 0, time.Local))
	// As in a terminal: the size comes while Init's first log read runs.
	return feed(t, m, append([]tea.Msg{tea.WindowSizeMsg{Width: width, Height: height}}, runCmd(m.Init())...)...)
}

// feed gives msgs to m one by one and runs the commands Update returns,
// feeding their messages back, as Bubble Tea would; refresh ticks are left
// out (a test model ticks every millisecond: the chain would not end), and
// the chain is bounded.
func feed(t *testing.T, m monitModel, msgs ...tea.Msg) monitModel {
	t.Helper()
	queue := append([]tea.Msg(nil), msgs...)
	for steps := 0; len(queue) > 0; steps++ {
		if steps > 100 {
			t.Fatal("the model keeps sending itself messages")
		}
		msg := queue[0]
		queue = queue[1:]
		next, cmd := m.Update(msg)
		m = next.(monitModel)
		queue = append(queue, runCmd(cmd)...)
	}
	return m
}

// runCmd runs cmd and returns its messages, a batch flattened, without
// the ticks.
func runCmd(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	switch msg := cmd().(type) {
	case tea.BatchMsg:
		var out []tea.Msg
		for _, c := range msg {
			out = append(out, runCmd(c)...)
		}
		return out
	case nil, monitTickMsg:
		return nil
	default:
		return []tea.Msg{msg}
	}
}

// key is the press of k as Bubble Tea v2 reports it: a special key by
// its code, ctrl+c with its modifier, a character with its text.
func key(k string) tea.KeyPressMsg {
	switch k {
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	r := []rune(k)[0]
	return tea.KeyPressMsg{Code: r, Text: k}
}

// checkScreen asserts that view fills exactly height lines, none wider
// than width, with no escape sequence (a component's log cannot reach the
// terminal), and returns its lines.
func checkScreen(t *testing.T, view string, width, height int) []string {
	t.Helper()
	lines := strings.Split(view, "\n")
	if len(lines) != height {
		t.Errorf("%d lines, want %d:\n%s", len(lines), height, view)
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > width {
			t.Errorf("line %d is %d cells wide, over %d: %q", i+1, w, width, l)
		}
	}
	if strings.ContainsAny(view, "\x1b\x07\t") {
		t.Errorf("the view holds control characters:\n%q", view)
	}
	return lines
}

// lineWith returns the first line holding s, failing when none does.
func lineWith(t *testing.T, lines []string, s string) string {
	t.Helper()
	for _, l := range lines {
		if strings.Contains(l, s) {
			return l
		}
	}
	t.Fatalf("no line holds %q:\n%s", s, strings.Join(lines, "\n"))
	return ""
}

func TestMonitModel_View_80x24(t *testing.T) {
	m := newTestMonit(t, &fakeMonitSource{comps: monitFixture(t)}, 80, 24)
	lines := checkScreen(t, m.View().Content, 80, 24)

	if !strings.HasPrefix(lines[0], "thorp monit · 10:00:00 · 2 components") {
		t.Errorf("title: %q", lines[0])
	}
	for _, h := range []string{"NAME", "STATE", "CPU", "RESTARTS", "MEMORY"} {
		lineWith(t, lines[1:2], h)
	}
	api := lineWith(t, lines, "api")
	for _, want := range []string{"> api", "running", "12%", " 3 memory ", "100 MiB / 150 MiB", "[█████", "░]"} {
		if !strings.Contains(api, want) {
			t.Errorf("the api row lacks %q: %q", want, api)
		}
	}
	// 100 of 150 MiB: two thirds of the bar's cells are full.
	bar := api[strings.Index(api, "[")+len("[") : strings.Index(api, "]")]
	full, all := strings.Count(bar, "█"), len([]rune(bar))
	if all < 10 || full*3 < all*2-3 || full*3 > all*2+3 {
		t.Errorf("api's bar has %d of %d cells full, want two thirds: %q", full, all, api)
	}
	web := lineWith(t, lines, "web")
	if !strings.Contains(web, "running 1/2") || strings.Contains(web, "[") {
		t.Errorf("web's row: want running 1/2 and no bar (the limit is per process): %q", web)
	}
	if in := lineWith(t, lines, "#1"); !strings.Contains(in, "backoff") || !strings.Contains(in, "10 MiB / 64 MiB") || !strings.Contains(in, "[") {
		t.Errorf("web#1's row: %q", in)
	}
	lineWith(t, lines, "#0")

	title := lineWith(t, lines, "── api · out · tab: err")
	if !strings.Contains(title, "/001/api-out") {
		t.Errorf("log title lacks the file: %q", title)
	}
	// The pane shows the last lines: the long one cut to the width, the
	// one with escape sequences made printable.
	lineWith(t, lines, "out line 40")
	lineWith(t, lines, `evil \x1b[2J\x1b]0;title\x07 line    end`)
	if long := lineWith(t, lines, "longlong"); ansi.StringWidth(long) != 80 || !strings.HasSuffix(long, "…") {
		t.Errorf("a long log line is not cut to 80 with …: %q", long)
	}
	if strings.Contains(m.View().Content, "out line 01") {
		t.Error("the pane shows the first line of 42 in 24 rows")
	}
	if foot := lines[23]; !strings.Contains(foot, "r restart") || !strings.Contains(foot, "q quit") {
		t.Errorf("footer: %q", foot)
	}
}

func TestMonitModel_View_120x40(t *testing.T) {
	m := newTestMonit(t, &fakeMonitSource{comps: monitFixture(t)}, 120, 40)
	lines := checkScreen(t, m.View().Content, 120, 40)
	for _, h := range []string{"PID", "UPTIME"} {
		lineWith(t, lines[1:2], h)
	}
	api := lineWith(t, lines, "> api")
	for _, want := range []string{"4121", "1m15s", "100 MiB / 150 MiB"} {
		if !strings.Contains(api, want) {
			t.Errorf("the api row lacks %q: %q", want, api)
		}
	}
	if n := strings.Count(api, "█") + strings.Count(api, "░"); n < 30 {
		t.Errorf("a 120-column bar has %d cells, want the room used: %q", n, api)
	}
	lineWith(t, lines, "5002")
	// 40 rows leave room for more of the log: lines 23 to 40 at least.
	lineWith(t, lines, "out line 23")
	lineWith(t, lines, "out line 40")
}

func TestMonitModel_Keys_SelectAndStreams(t *testing.T) {
	src := &fakeMonitSource{comps: monitFixture(t)}
	m := newTestMonit(t, src, 80, 24)
	m = feed(t, m, key("tab"))
	lines := checkScreen(t, m.View().Content, 80, 24)
	lineWith(t, lines, "── api · err · tab: out")
	lineWith(t, lines, "oops: disk on fire")

	m = feed(t, m, key("down"))
	lines = checkScreen(t, m.View().Content, 80, 24)
	lineWith(t, lines, "> web")
	lineWith(t, lines, "── web · err")
	lineWith(t, lines, "(no err log file)")

	m = feed(t, m, key("down"), key("down"), key("down"), key("down"))
	lineWith(t, checkScreen(t, m.View().Content, 80, 24), ">   #1")
	m = feed(t, m, key("up"), key("up"), key("up"), key("up"), key("up"))
	lineWith(t, checkScreen(t, m.View().Content, 80, 24), "> api")

	// A refresh that reorders the components keeps the selection on web.
	m = feed(t, m, key("down"))
	comps := monitFixture(t)
	comps[0], comps[1] = comps[1], comps[0]
	m = feed(t, m, monitDataMsg{comps: comps, at: time.Now()})
	lineWith(t, checkScreen(t, m.View().Content, 80, 24), "> web")
}

func TestMonitModel_Keys_ConfirmAction(t *testing.T) {
	src := &fakeMonitSource{comps: monitFixture(t)}
	m := newTestMonit(t, src, 80, 24)

	m = feed(t, m, key("s"))
	lines := checkScreen(t, m.View().Content, 80, 24)
	if !strings.HasPrefix(lines[23], "stop api? y/n") {
		t.Errorf("s: footer %q, want the confirmation", lines[23])
	}
	m = feed(t, m, key("n"))
	if lines = checkScreen(t, m.View().Content, 80, 24); !strings.HasPrefix(lines[23], "stop api: cancelled") {
		t.Errorf("n: footer %q", lines[23])
	}
	if len(src.acts) != 0 {
		t.Fatalf("a cancelled action was sent: %v", src.acts)
	}

	reads := src.reads
	for _, k := range []struct{ key, action string }{{"r", "restart"}, {"R", "reload"}, {"S", "start"}, {"s", "stop"}} {
		m = feed(t, m, key(k.key))
		lineWith(t, checkScreen(t, m.View().Content, 80, 24), k.action+" api? y/n")
		m = feed(t, m, key("y"))
		lineWith(t, checkScreen(t, m.View().Content, 80, 24), k.action+" api: done")
	}
	m = feed(t, m, key("down"), key("r"), key("y"))
	if want := "restart api,reload api,start api,stop api,restart web"; strings.Join(src.acts, ",") != want {
		t.Errorf("actions sent %q, want %q", strings.Join(src.acts, ","), want)
	}
	if src.reads != reads+5 {
		t.Errorf("%d refreshes after 5 actions, want 5", src.reads-reads)
	}
	// The confirmation asks before quitting too: q answers no.
	m = feed(t, m, key("r"))
	_, cmd := m.Update(key("q"))
	if cmd != nil {
		t.Error("q at a confirmation quit instead of cancelling")
	}
}

func TestMonitModel_Keys_Quit(t *testing.T) {
	m := newTestMonit(t, &fakeMonitSource{comps: monitFixture(t)}, 80, 24)
	for _, k := range []string{"q", "ctrl+c"} {
		_, cmd := m.Update(key(k))
		if cmd == nil {
			t.Fatalf("%s: no command", k)
		}
		if _, ok := cmd().(tea.QuitMsg); !ok {
			t.Errorf("%s does not quit", k)
		}
	}
}

func TestMonitModel_RefreshError_KeepsFigures(t *testing.T) {
	m := newTestMonit(t, &fakeMonitSource{comps: monitFixture(t)}, 80, 24)
	m = feed(t, m, monitDataMsg{err: errors.New("no running thorp")})
	lines := checkScreen(t, m.View().Content, 80, 24)
	if !strings.HasPrefix(lines[1], "!! no running thorp (showing the last figures)") {
		t.Errorf("line 2: %q", lines[1])
	}
	lineWith(t, lines, "> api")
	lineWith(t, lines, "out line 40")
}

func TestMonitModel_SmallWindows(t *testing.T) {
	comps := monitFixture(t)
	comps[1].Name = "a-component-with-a-rather-long-name-indeed"
	for _, size := range [][2]int{{80, 24}, {60, 12}, {40, 8}, {30, 4}, {20, 2}, {100, 1}} {
		m := newTestMonit(t, &fakeMonitSource{comps: comps}, size[0], size[1])
		m = feed(t, m, key("down"))
		lines := checkScreen(t, m.View().Content, size[0], size[1])
		if size[1] >= 4 && !strings.Contains(strings.Join(lines, "\n"), "> a-compo") {
			t.Errorf("%dx%d: the selected component is not shown:\n%s", size[0], size[1], strings.Join(lines, "\n"))
		}
	}
	// With many components the table scrolls to keep the selection shown.
	var many []engine.Status
	for i := range 40 {
		many = append(many, engine.Status{Name: fmt.Sprintf("c%02d", i), State: engine.StateRunning})
	}
	m := newTestMonit(t, &fakeMonitSource{comps: many}, 80, 24)
	for range 30 {
		m = feed(t, m, key("down"))
	}
	lines := checkScreen(t, m.View().Content, 80, 24)
	lineWith(t, lines, "> c30")
	lineWith(t, lines, "── c30")
}

func TestMonitModel_Tick_RefreshesAndFollowsTheLog(t *testing.T) {
	src := &fakeMonitSource{comps: monitFixture(t)}
	m := newTestMonit(t, src, 80, 24)
	api := &src.comps[0]
	api.CPUPercent = 55
	f, err := os.OpenFile(api.Logs[0].Path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "a new line")
	f.Close()
	api.Logs[0].Lines++

	m = feed(t, m, monitTickMsg(time.Now()))
	lines := checkScreen(t, m.View().Content, 80, 24)
	if row := lineWith(t, lines, "> api"); !strings.Contains(row, "55%") {
		t.Errorf("after a tick: %q, want 55%%", row)
	}
	lineWith(t, lines, "a new line")
	if src.reads != 1 {
		t.Errorf("%d refreshes for one tick", src.reads)
	}

	// A tick while a refresh is out asks for no other.
	next, _ := m.Update(monitTickMsg(time.Now()))
	_, cmd := next.(monitModel).Update(monitTickMsg(time.Now()))
	runCmd(cmd)
	if src.reads != 1 {
		t.Errorf("a tick during a refresh started another: %d reads", src.reads)
	}
}

// TestMonitModel_View_Colours checks the view as a terminal gets it: on
// the alternate screen, coloured with SGR sequences only (Bubble Tea
// downsamples them), and the same text as without colours.
func TestMonitModel_View_Colours(t *testing.T) {
	src := &fakeMonitSource{comps: monitFixture(t)}
	plain := newTestMonit(t, src, 80, 24)
	coloured := plain
	coloured.styles = newMonitStyles(true)
	v := coloured.View()
	if !v.AltScreen {
		t.Error("the view does not ask for the alternate screen")
	}
	if !strings.Contains(v.Content, "\x1b[") {
		t.Fatalf("no colour in the coloured view:\n%q", v.Content)
	}
	if got, want := ansi.Strip(v.Content), plain.View().Content; got != want {
		t.Errorf("the coloured view's text differs from the plain one:\n%s\nwant:\n%s", got, want)
	}
	sgr := regexp.MustCompile(`\x1b\[[0-9;:]*m`)
	if rest := sgr.ReplaceAllString(v.Content, ""); strings.ContainsAny(rest, "\x1b\x07") {
		t.Errorf("the coloured view holds more than SGR sequences:\n%q", rest)
	}
}
