package api

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

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
		if q.refused(w) {
			return
		}
		if window <= 0 || window > engine.HistoryMaxWindow {
			writeError(w, http.StatusBadRequest, (&QueryError{Param: "window",
				Msg: fmt.Sprintf("%s is out of range; give more than 0 and at most %s", window, engine.HistoryMaxWindow)}).Error())
			return
		}
	}
	hist, err := h.sup.History(r.PathValue("name"), window)
	if err != nil {
		writeErr(w, err)
		return
	}
	n := 0
	for _, in := range hist.Instances {
		n += len(in.Time)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(appendHistoryJSON(make([]byte, 0, 256+32*n+200*len(hist.Restarts)), hist))
}

// appendHistoryJSON appends the JSON of hist, as GET
// /api/v1/components/NAME/history answers it, to b: written by hand with
// strconv, since encoding/json would take several times as long over the
// tens of thousands of numbers of a day's window.
func appendHistoryJSON(b []byte, hist engine.History) []byte {
	b = append(b, `{"component":`...)
	b = appendString(b, hist.Component)
	b = append(b, `,"window":`...)
	b = appendString(b, hist.Window.String())
	b = append(b, `,"interval":`...)
	b = appendString(b, hist.Interval.String())
	b = append(b, `,"limit":`...)
	b = strconv.AppendInt(b, hist.Limit, 10)
	b = append(b, `,"instances":[`...)
	for i, in := range hist.Instances {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"index":`...)
		b = strconv.AppendInt(b, int64(in.Index), 10)
		b = append(b, `,"time":`...)
		b = appendFloats(b, in.Time)
		b = append(b, `,"rss":`...)
		b = appendInts(b, in.RSS)
		b = append(b, `,"pss":`...)
		b = appendInts(b, in.PSS)
		b = append(b, `,"cpu":`...)
		b = appendFloats(b, in.CPU)
		b = append(b, '}')
	}
	b = append(b, `],"restarts":[`...)
	for i, m := range hist.Restarts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"time":`...)
		b = strconv.AppendFloat(b, unixSeconds(m.Time), 'f', -1, 64)
		b = append(b, `,"instance":`...)
		b = strconv.AppendInt(b, int64(m.Instance), 10)
		b = append(b, `,"reason":`...)
		b = appendString(b, string(m.Reason))
		b = append(b, `,"detail":`...)
		b = appendString(b, m.Detail)
		b = append(b, `,"old_pid":`...)
		b = strconv.AppendInt(b, int64(m.OldPID), 10)
		b = append(b, `,"new_pid":`...)
		b = strconv.AppendInt(b, int64(m.NewPID), 10)
		b = append(b, '}')
	}
	return append(b, "]}\n"...)
}

// unixSeconds is t in Unix seconds, to the millisecond.
func unixSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

// appendFloats appends vs as a JSON array of numbers.
func appendFloats(b []byte, vs []float64) []byte {
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendNumber(b, v)
	}
	return append(b, ']')
}

// appendNumber appends v, in tenths with integer formatting when it has
// no finer digits (times and CPU %, nearly always), which is several
// times quicker than strconv.AppendFloat.
func appendNumber(b []byte, v float64) []byte {
	t := math.Round(v * 10)
	if math.Abs(t-v*10) > 1e-6 || math.Abs(t) > 1<<52 {
		return strconv.AppendFloat(b, v, 'f', -1, 64)
	}
	n := int64(t)
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	b = strconv.AppendInt(b, n/10, 10)
	if d := n % 10; d != 0 {
		b = append(b, '.', byte('0'+d))
	}
	return b
}

// appendInts appends vs as a JSON array of numbers, null for a negative
// one (a value that was not measured).
func appendInts(b []byte, vs []int64) []byte {
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		if v < 0 {
			b = append(b, "null"...)
			continue
		}
		b = strconv.AppendInt(b, v, 10)
	}
	return append(b, ']')
}
