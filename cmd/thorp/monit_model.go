package main

import (
	"context"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/rotate"
)

// monitSource is what the live monit asks of a running thorp; *api.Client
// is one, tests give a fake.
type monitSource interface {
	Components(ctx context.Context) ([]engine.Status, error)
	Act(ctx context.Context, action string, names []string, wait bool) ([]engine.Status, error)
}

// monitActions are the keys that act on the selected component, each
// confirmed with y before it is sent over the control socket.
var monitActions = map[string]string{"r": "restart", "R": "reload", "s": "stop", "S": "start"}

// Timeouts of the live monit's requests: a status read is quick, an
// action waits for its outcome (a stop may wait out kill_timeout).
const (
	monitFetchTimeout  = 5 * time.Second
	monitActionTimeout = 2 * time.Minute
	monitMaxLogLines   = 500
)

// Messages of the live monit. Each comes back from a command the model
// started, so the model is the only one to change its fields.
type (
	// monitTickMsg asks for the next refresh.
	monitTickMsg time.Time
	// monitDataMsg is the answer of a refresh.
	monitDataMsg struct {
		comps []engine.Status
		err   error
		at    time.Time
	}
	// monitLogMsg is a read of the selected component's log.
	monitLogMsg struct {
		req   monitLogRequest
		lines []string
		err   error
	}
	// monitActionMsg is the outcome of a confirmed action.
	monitActionMsg struct {
		action, name string
		err          error
	}
)

// monitRow is one row of the table: a component, or one of its instances
// (inst >= 0).
type monitRow struct {
	comp int // index in monitModel.comps
	inst int // -1 for the component's own row
}

// monitRowKey names a row across refreshes.
type monitRowKey struct {
	name string
	inst int
}

// monitLogRequest names one read of a log: which file, how many lines,
// and the file's figures at the refresh that asked, so an unchanged log
// is not read again.
type monitLogRequest struct {
	name, stream, path string
	merged             bool
	n                  int
	bytes, lines, rots int64
}

// monitModel is the Bubble Tea model of `thorp monit` in a terminal: the
// last figures of every component, the selected row, the log pane and a
// pending confirmation. It is a value; Update returns the next one, and
// every request to thorp or the disk runs in a tea.Cmd whose answer comes
// back as a message.
type monitModel struct {
	ctx      context.Context
	src      monitSource
	interval time.Duration
	styles   monitStyles

	width, height int
	comps         []engine.Status
	rows          []monitRow
	sel           int
	selKey        monitRowKey // the selected row's, kept across refreshes
	updated       time.Time
	err           error // of the last refresh; the figures are older then
	fetching      bool

	stream  string // "out" or "err"
	logReq  monitLogRequest
	logs    []string
	logErr  error
	logRead bool // the lines of logReq have come

	confirm     string // the action awaiting y/n, "" for none
	confirmName string
	note        string // the outcome of the last action, or what runs
}

// newMonitModel returns the model showing comps (the first refresh, done
// before the terminal is taken).
func newMonitModel(ctx context.Context, src monitSource, interval time.Duration, styles monitStyles, comps []engine.Status, at time.Time) monitModel {
	m := monitModel{ctx: ctx, src: src, interval: interval, styles: styles, stream: "out", width: 80, height: 24}
	m.setData(comps, at)
	m.logReq = m.logRequest()
	return m
}

// Init starts the refresh ticks and reads the first log.
func (m monitModel) Init() tea.Cmd {
	return tea.Batch(m.tick(), readLog(m.logReq))
}

func (m monitModel) tick() tea.Cmd {
	return tea.Tick(m.interval, func(t time.Time) tea.Msg { return monitTickMsg(t) })
}

// Update applies one message.
func (m monitModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		return m.wantLog()
	case monitTickMsg:
		cmds := []tea.Cmd{m.tick()}
		if !m.fetching {
			m.fetching = true
			cmds = append(cmds, m.fetch())
		}
		return m, tea.Batch(cmds...)
	case monitDataMsg:
		m.fetching = false
		m.err = msg.err
		if msg.err == nil {
			m.setData(msg.comps, msg.at)
		}
		return m.wantLog()
	case monitLogMsg:
		if msg.req == m.logReq {
			m.logs, m.logErr, m.logRead = msg.lines, msg.err, true
		}
		return m, nil
	case monitActionMsg:
		m.note = fmt.Sprintf("%s %s: done", msg.action, msg.name)
		if msg.err != nil {
			m.note = fmt.Sprintf("%s %s: %s", msg.action, msg.name, termSafeErr(msg.err))
		}
		if m.fetching {
			return m, nil
		}
		m.fetching = true
		return m, m.fetch()
	case tea.KeyPressMsg:
		return m.key(msg.String())
	}
	return m, nil
}

// key handles one key press.
func (m monitModel) key(k string) (tea.Model, tea.Cmd) {
	if k == "ctrl+c" {
		return m, tea.Quit
	}
	if m.confirm != "" {
		action, name := m.confirm, m.confirmName
		m.confirm, m.confirmName = "", ""
		if k != "y" && k != "Y" {
			m.note = fmt.Sprintf("%s %s: cancelled", action, name)
			return m, nil
		}
		m.note = fmt.Sprintf("%s %s…", action, name)
		return m, m.act(action, name)
	}
	switch k {
	case "q":
		return m, tea.Quit
	case "up", "k":
		m.selectRow(m.sel - 1)
	case "down", "j":
		m.selectRow(m.sel + 1)
	case "home", "g":
		m.selectRow(0)
	case "end", "G":
		m.selectRow(len(m.rows) - 1)
	case "tab":
		m.stream = map[string]string{"out": "err", "err": "out"}[m.stream]
	default:
		if action, ok := monitActions[k]; ok && len(m.rows) > 0 {
			m.confirm, m.confirmName = action, m.comps[m.rows[m.sel].comp].Name
			m.note = ""
		}
		return m, nil
	}
	return m.wantLog()
}

// setData takes a refresh's components, rebuilds the rows and keeps the
// selection on the same component or instance when it is still there.
func (m *monitModel) setData(comps []engine.Status, at time.Time) {
	m.comps, m.updated = comps, at
	m.rows = m.rows[:0]
	for i, st := range comps {
		m.rows = append(m.rows, monitRow{comp: i, inst: -1})
		if len(st.Instances) > 1 || st.Proxy != nil {
			for j := range st.Instances {
				m.rows = append(m.rows, monitRow{comp: i, inst: st.Instances[j].Index})
			}
		}
	}
	for i, r := range m.rows {
		if m.rowKey(r) == m.selKey {
			m.sel = i
			return
		}
	}
	m.selectRow(m.sel)
}

func (m *monitModel) selectRow(i int) {
	m.sel = max(0, min(i, len(m.rows)-1))
	if len(m.rows) > 0 {
		m.selKey = m.rowKey(m.rows[m.sel])
	}
}

func (m *monitModel) rowKey(r monitRow) monitRowKey {
	return monitRowKey{m.comps[r.comp].Name, r.inst}
}

// wantLog reads the selected component's log when what the pane shows
// would change: another file or stream, another height, or the file grew.
func (m monitModel) wantLog() (tea.Model, tea.Cmd) {
	req := m.logRequest()
	if req == m.logReq {
		return m, nil
	}
	if req.path != m.logReq.path || req.stream != m.logReq.stream {
		m.logs, m.logErr, m.logRead = nil, nil, false
	}
	m.logReq = req
	return m, readLog(req)
}

// readLog reads the lines req asks for; nil when there is no file.
func readLog(req monitLogRequest) tea.Cmd {
	if req.path == "" {
		return nil
	}
	return func() tea.Msg {
		lines, err := rotate.Tail(req.path, req.n)
		return monitLogMsg{req: req, lines: lines, err: err}
	}
}

// logRequest is the read the log pane needs now; its path is "" when the
// selected component has no file for the stream.
func (m monitModel) logRequest() monitLogRequest {
	if len(m.rows) == 0 {
		return monitLogRequest{}
	}
	r := m.rows[m.sel]
	st := m.comps[r.comp]
	req := monitLogRequest{name: st.Name, stream: m.stream, n: min(max(m.layout().logLines, 1), monitMaxLogLines)}
	ls, merged, ok := monitPickLog(st.Logs, m.stream, r.inst)
	if ok {
		req.path, req.merged = ls.Path, merged
		req.bytes, req.lines, req.rots = ls.Bytes, ls.Lines, ls.Rotations
	}
	return req
}

// monitPickLog finds the file of stream among a component's logs: with a
// file per instance, the inst-th one (the engine lists them by instance).
// A component whose streams share one file (merge_logs) returns it for
// either, with merged set.
func monitPickLog(all []engine.LogStatus, stream string, inst int) (ls engine.LogStatus, merged, ok bool) {
	var match []engine.LogStatus
	streams := map[string]bool{}
	for _, l := range all {
		if l.Path == "" {
			continue
		}
		streams[l.Stream] = true
		if l.Stream == stream {
			match = append(match, l)
		}
	}
	if len(match) == 0 && len(streams) == 1 {
		// One stream holds both: merge_logs.
		for _, l := range all {
			if l.Path != "" {
				match = append(match, l)
			}
		}
		merged = true
	}
	if len(match) == 0 {
		return engine.LogStatus{}, false, false
	}
	if inst > 0 && inst < len(match) {
		return match[inst], merged, true
	}
	return match[0], merged, true
}

// fetch reads every component's status.
func (m monitModel) fetch() tea.Cmd {
	ctx, src := m.ctx, m.src
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, monitFetchTimeout)
		defer cancel()
		comps, err := src.Components(ctx)
		return monitDataMsg{comps: comps, err: err, at: time.Now()}
	}
}

// act sends action for name over the control socket and waits for its
// outcome.
func (m monitModel) act(action, name string) tea.Cmd {
	ctx, src := m.ctx, m.src
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, monitActionTimeout)
		defer cancel()
		_, err := src.Act(ctx, action, []string{name}, true)
		return monitActionMsg{action: action, name: name, err: err}
	}
}
