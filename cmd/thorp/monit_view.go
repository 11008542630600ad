package main

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/config"
)

// monitStyles are the colours of the live monit: SGR styles of the basic
// 16 colours, which Bubble Tea downsamples to the terminal's profile.
// Without colour every style is plain, so a test's view is text.
//
// They are x/ansi's styles, the layer Lip Gloss renders with, not Lip
// Gloss itself: Lip Gloss v2 detects stdout's colour profile in a package
// variable, which runs `tmux info` at the start of every thorp command
// started in tmux (thorp run included), whether or not it draws anything.
type monitStyles struct {
	header, dim, selected, confirm, bad monitStyle
	states                              map[engine.State]monitStyle
	barLow, barHigh, barOver            monitStyle
}

// monitStyle is one SGR style; the zero value leaves text as it is.
type monitStyle struct{ sgr ansi.Style }

// Render returns s in the style, reset after it.
func (st monitStyle) Render(s string) string { return st.sgr.Styled(s) }

func newMonitStyles(colour bool) monitStyles {
	if !colour {
		return monitStyles{}
	}
	color := func(c ansi.BasicColor) monitStyle { return monitStyle{ansi.NewStyle().ForegroundColor(c)} }
	return monitStyles{
		header:   monitStyle{ansi.NewStyle().Bold()},
		dim:      monitStyle{ansi.NewStyle().Faint()},
		selected: monitStyle{ansi.NewStyle().Reverse(true)},
		confirm:  monitStyle{ansi.NewStyle().Bold().ForegroundColor(ansi.Yellow)},
		bad:      color(ansi.Red),
		states: map[engine.State]monitStyle{
			engine.StateRunning:  color(ansi.Green),
			engine.StateStarting: color(ansi.Yellow),
			engine.StateBackoff:  color(ansi.Yellow),
			engine.StateStopping: color(ansi.Yellow),
			engine.StateErrored:  color(ansi.Red),
			engine.StateStopped:  color(ansi.BrightBlack),
		},
		barLow:  color(ansi.Green),
		barHigh: color(ansi.Yellow),
		barOver: color(ansi.Red),
	}
}

// monitLayout is how the window's lines are shared: the table's rows on
// screen and the log pane's lines (0: no pane, the window is too low).
type monitLayout struct {
	tableRows, logLines int
}

// Lines of the window that are not table rows or log lines: the title, the
// column header and the footer; and the log pane's own title.
const (
	monitChromeLines = 3
	monitMinLogLines = 3
)

func (m monitModel) layout() monitLayout {
	body := m.height - monitChromeLines
	if m.err != nil {
		body-- // the line saying why the figures are old
	}
	if body < 1+monitMinLogLines+4 {
		return monitLayout{tableRows: max(body, 0)} // too low for a log pane
	}
	table := max(min(max(len(m.rows), 1), body*3/5), 1)
	return monitLayout{tableRows: table, logLines: body - table - 1}
}

// monitColumns are the widths of the table's columns at one window width;
// 0 leaves a column out.
type monitColumns struct {
	name, state, pid, uptime, cpu, restarts, mem, bar int
}

func (m monitModel) columns() monitColumns {
	longest := 4
	for _, st := range m.comps {
		longest = max(longest, ansi.StringWidth(termSafe(st.Name)))
	}
	c := monitColumns{name: min(longest, 24), state: 11, cpu: 6, restarts: 10, mem: 19}
	if m.width >= 100 {
		c.pid, c.uptime = 7, 7
	}
	used := func() int {
		n := 2 + c.name + c.state + c.cpu + c.restarts + c.mem + 5
		if c.pid > 0 {
			n += c.pid + c.uptime + 2
		}
		return n
	}
	for c.name > 8 && m.width-used() < 8 {
		c.name--
	}
	if left := m.width - used() - 1; left >= 6 {
		c.bar = min(left, 40)
	}
	return c
}

// View is the window on the alternate screen, as render draws it.
func (m monitModel) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	return v
}

// render draws the window: title, table, log pane, footer; every line cut
// to the width, never wrapped, and no more lines than the height.
func (m monitModel) render() string {
	w := m.width
	lay := m.layout()
	cols := m.columns()
	var lines []string
	add := func(s string) { lines = append(lines, ansi.Truncate(s, w, "")) }

	title := fmt.Sprintf("thorp monit · %s · %d components", m.updated.Local().Format("15:04:05"), len(m.comps))
	add(m.styles.header.Render(pad(title, w)))
	if m.err != nil {
		add(m.styles.bad.Render(pad("!! "+termSafeErr(m.err)+" (showing the last figures)", w)))
	}
	add(m.styles.header.Render(pad(m.headerRow(cols), w)))
	start := 0
	if m.sel >= lay.tableRows {
		start = m.sel - lay.tableRows + 1
	}
	for i := start; i < min(start+lay.tableRows, len(m.rows)); i++ {
		add(m.row(i, cols, w))
	}
	if len(m.rows) == 0 {
		add(m.styles.dim.Render("(no components)"))
	}
	for range lay.tableRows - max(len(m.rows)-start, 1) {
		add("")
	}
	if lay.logLines > 0 {
		add(m.styles.header.Render(ansi.Truncate(m.logTitle(), w, "")))
		shown := m.logPane(lay.logLines, w)
		for _, l := range shown {
			add(l)
		}
		for range lay.logLines - len(shown) {
			add("")
		}
	}
	add(m.footer(w))
	if len(lines) > m.height {
		lines = lines[:max(m.height, 0)]
	}
	return strings.Join(lines, "\n")
}

func (m monitModel) headerRow(c monitColumns) string {
	s := "  " + pad("NAME", c.name) + " " + pad("STATE", c.state) + " "
	if c.pid > 0 {
		s += padLeft("PID", c.pid) + " " + padLeft("UPTIME", c.uptime) + " "
	}
	s += padLeft("CPU", c.cpu) + " " + padLeft("RESTARTS", c.restarts) + " " + padLeft("MEMORY", c.mem)
	if c.bar > 0 {
		s += " " + pad("/ LIMIT", c.bar)
	}
	return s
}

// row draws table row i: a component, or one of its instances indented
// under it. A component's restarts are followed by the last one's reason. A component of several instances shows its summed memory and
// no bar: the limit is per process, so only its instances have one.
func (m monitModel) row(i int, c monitColumns, w int) string {
	r := m.rows[i]
	st := m.comps[r.comp]
	name, state, pid, uptime := termSafe(st.Name), st.State, st.PID, st.UptimeSeconds
	stateText := string(st.State)
	cpu, mem, limit := st.CPUPercent, st.MemoryBytes, st.MemoryLimitBytes
	restarts := fmt.Sprint(st.Restarts)
	if st.Restarts > 0 && st.LastRestartReason != "" {
		restarts += " " + termSafe(string(st.LastRestartReason)) // the last one's reason
	}
	if r.inst >= 0 {
		for _, in := range st.Instances {
			if in.Index == r.inst {
				name, state, stateText, pid, uptime = fmt.Sprintf("  #%d", in.Index), in.State, string(in.State), in.PID, in.UptimeSeconds
				cpu, restarts, mem = in.CPUPercent, fmt.Sprint(in.Restarts), in.MemoryBytes
			}
		}
	} else if len(st.Instances) > 1 {
		stateText = ansi.Strip(countedStateCell(st, false))
		if strings.HasPrefix(stateText, string(engine.StateRunning)) {
			state = engine.StateRunning
		}
		pid, uptime, limit = 0, 0, 0
	}
	memText := sizeOrDash(mem)
	if limit > 0 {
		memText += " / " + config.Size(limit).String()
	}
	cells := []string{pad(name, c.name), pad(stateText, c.state)}
	if c.pid > 0 {
		cells = append(cells, padLeft(pidCell(pid), c.pid), padLeft(humanDuration(uptime), c.uptime))
	}
	cells = append(cells, padLeft(cpuCell(cpu), c.cpu), padLeft(restarts, c.restarts), padLeft(memText, c.mem))
	bar := ""
	if c.bar > 0 {
		bar = memoryBar(mem, limit, c.bar)
	}
	if i == m.sel {
		return m.styles.selected.Render(pad("> "+strings.Join(cells, " ")+" "+bar, w))
	}
	cells[1] = m.styles.states[state].Render(cells[1])
	if bar != "" && limit > 0 {
		style := m.styles.barLow
		switch frac := float64(mem) / float64(limit); {
		case frac >= 0.9:
			style = m.styles.barOver
		case frac >= 0.7:
			style = m.styles.barHigh
		}
		bar = style.Render(bar)
	}
	return "  " + strings.Join(cells, " ") + " " + bar
}

// memoryBar is mem against limit in width cells: "[█████░░░░░]"; blank
// without a limit. Over the limit the bar is full.
func memoryBar(mem, limit int64, width int) string {
	if limit <= 0 || width < 3 {
		return strings.Repeat(" ", max(width, 0))
	}
	inner := width - 2
	fill := int(float64(inner)*float64(mem)/float64(limit) + 0.5)
	fill = max(0, min(fill, inner))
	return "[" + strings.Repeat("█", fill) + strings.Repeat("░", inner-fill) + "]"
}

// logTitle names what the log pane shows, ruled to the window's width.
func (m monitModel) logTitle() string {
	req := m.logReq
	if req.name == "" {
		return "── logs"
	}
	stream, other := req.stream, map[string]string{"out": "err", "err": "out"}[req.stream]
	if req.merged {
		stream = "out+err"
	}
	s := fmt.Sprintf("── %s · %s · tab: %s ", termSafe(req.name), stream, other)
	if req.path != "" {
		s += "── " + termSafe(req.path) + " "
	}
	return s + strings.Repeat("─", max(m.width, 0))
}

// logPane is the last n lines of the log, each made safe for the terminal
// (a component's escape sequences would move the cursor) and cut to w.
func (m monitModel) logPane(n, w int) []string {
	switch {
	case m.logReq.path == "":
		return []string{m.styles.dim.Render(fmt.Sprintf("(no %s log file)", m.stream))}
	case m.logErr != nil:
		return []string{m.styles.bad.Render(pad(termSafeErr(m.logErr), w))}
	case !m.logRead:
		return nil
	case len(m.logs) == 0:
		return []string{m.styles.dim.Render("(empty)")}
	}
	logs := m.logs[max(len(m.logs)-n, 0):]
	out := make([]string, len(logs))
	for i, l := range logs {
		out[i] = pad(termSafe(strings.ReplaceAll(l, "\t", "    ")), w)
	}
	return out
}

// footer is the pending confirmation, else the last action's outcome
// beside the keys.
func (m monitModel) footer(w int) string {
	if m.confirm != "" {
		return m.styles.confirm.Render(pad(fmt.Sprintf("%s %s? y/n", m.confirm, termSafe(m.confirmName)), w))
	}
	keys := "↑↓ select  r restart  R reload  s stop  S start  tab out/err  q quit"
	if m.note != "" {
		keys = m.note + " · " + keys
	}
	return m.styles.dim.Render(pad(keys, w))
}

// pad cuts s to w cells, marking the cut with …, and pads it with spaces
// to w.
func pad(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) > w {
		s = ansi.Truncate(s, w, "…")
	}
	return s + strings.Repeat(" ", w-ansi.StringWidth(s))
}

// padLeft is pad aligned right.
func padLeft(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) > w {
		s = ansi.Truncate(s, w, "…")
	}
	return strings.Repeat(" ", w-ansi.StringWidth(s)) + s
}
