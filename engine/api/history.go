package api

import (
	"net/http"

	"github.com/thorp-dev/thorp/engine"
)

// getHistory serves GET /api/v1/components/NAME/history?window=1h: the
// component's samples and restart markers over window, in columns (see
// docs/api.md).
func (h *Handler) getHistory(w http.ResponseWriter, r *http.Request) {
	q := query(w, r, "window")
	if q == nil {
		return
	}
	window := engine.HistoryDefaultWindow
	if q.Has("window") {
		window = q.Duration("window")
		if window <= 0 || window > engine.HistoryMaxWindow { // q keeps the first problem, a bad duration's
			q.fail("window", "%s is out of range; give more than 0 and at most %s", window, engine.HistoryMaxWindow)
		}
		if q.refused(w) {
			return
		}
	}
	hist, err := h.sup.History(r.PathValue("name"), window)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, newHistoryBody(hist))
}

// historyBody is the JSON of GET /api/v1/components/NAME/history: the
// samples in columns (one array per figure, uPlot's shape), times in Unix
// seconds, PSS null where it was not measured.
type historyBody struct {
	Component string                `json:"component"`
	Window    string                `json:"window"`
	Interval  string                `json:"interval"`
	Limit     int64                 `json:"limit"`
	Instances []instanceHistoryBody `json:"instances"`
	Restarts  []restartMarkerBody   `json:"restarts"`
}

type instanceHistoryBody struct {
	Index int       `json:"index"`
	Time  []float64 `json:"time"`
	RSS   []int64   `json:"rss"`
	PSS   []*int64  `json:"pss"`
	CPU   []float64 `json:"cpu"`
}

type restartMarkerBody struct {
	Time     float64 `json:"time"`
	Instance int     `json:"instance"`
	Reason   string  `json:"reason"`
	Detail   string  `json:"detail"`
	OldPID   int     `json:"old_pid"`
	NewPID   int     `json:"new_pid"`
}

// newHistoryBody lays hist out as the API answers it.
func newHistoryBody(hist engine.History) historyBody {
	doc := historyBody{Component: hist.Component, Window: hist.Window.String(), Interval: hist.Interval.String(),
		Limit: hist.Limit, Instances: make([]instanceHistoryBody, len(hist.Instances)), Restarts: make([]restartMarkerBody, len(hist.Restarts))}
	for i, in := range hist.Instances {
		pss := make([]*int64, len(in.PSS))
		for j := range in.PSS {
			if in.PSS[j] >= 0 {
				pss[j] = &in.PSS[j]
			}
		}
		doc.Instances[i] = instanceHistoryBody{Index: in.Index, Time: nonNil(in.Time), RSS: nonNil(in.RSS), PSS: pss, CPU: nonNil(in.CPU)}
	}
	for i, m := range hist.Restarts {
		doc.Restarts[i] = restartMarkerBody{Time: float64(m.Time.UnixMilli()) / 1000, Instance: m.Instance, Reason: string(m.Reason),
			Detail: m.Detail, OldPID: m.OldPID, NewPID: m.NewPID}
	}
	return doc
}
