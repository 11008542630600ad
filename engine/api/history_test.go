package api

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/policies"
)

func TestHistoryBody_Shape(t *testing.T) {
	h := engine.History{Component: "api", Window: time.Hour, Interval: time.Second, Limit: 157286400,
		Instances: []engine.InstanceHistory{{Index: 0, Time: []float64{1795812000, 1795812001.5},
			RSS: []int64{104857600, 106954752}, PSS: []int64{-1, 5 << 20}, CPU: []float64{1.5, 0}}},
		Restarts: []engine.RestartMarker{{Time: time.UnixMilli(1795812030500), Instance: 0, Reason: policies.ReasonMemory,
			Detail: `memory "151.2 MiB" over 150 MB`, OldPID: 4121, NewPID: 4188}}}
	marshal := func(h engine.History) string {
		b, err := json.Marshal(newHistoryBody(h))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	want := `{"component":"api","window":"1h0m0s","interval":"1s","limit":157286400,"instances":[` +
		`{"index":0,"time":[1795812000,1795812001.5],"rss":[104857600,106954752],"pss":[null,5242880],"cpu":[1.5,0]}],` +
		`"restarts":[{"time":1795812030.5,"instance":0,"reason":"memory","detail":"memory \"151.2 MiB\" over 150 MB","old_pid":4121,"new_pid":4188}]}`
	if got := marshal(h); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	empty := marshal(engine.History{Component: "x", Window: time.Minute, Interval: 5 * time.Second, Instances: []engine.InstanceHistory{{Index: 0}}})
	if want := `{"component":"x","window":"1m0s","interval":"5s","limit":0,"instances":[{"index":0,"time":[],"rss":[],"pss":[],"cpu":[]}],"restarts":[]}`; empty != want {
		t.Fatalf("got  %s\nwant %s", empty, want)
	}
}

// historyDoc is the JSON of GET .../history, as a client reads it.
type historyDoc struct {
	Component string `json:"component"`
	Window    string `json:"window"`
	Interval  string `json:"interval"`
	Limit     int64  `json:"limit"`
	Instances []struct {
		Index int       `json:"index"`
		Time  []float64 `json:"time"`
		RSS   []int64   `json:"rss"`
		PSS   []*int64  `json:"pss"`
		CPU   []float64 `json:"cpu"`
	} `json:"instances"`
	Restarts []map[string]any `json:"restarts"`
}

func getHistoryDoc(t *testing.T, c *Client, target string) historyDoc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://thorp"+target, nil)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %d %s %s", target, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(body, &keys); err != nil {
		t.Fatalf("GET %s: %v: %s", target, err, body)
	}
	if got := slices.Sorted(maps.Keys(keys)); !slices.Equal(got, []string{"component", "instances", "interval", "limit", "restarts", "window"}) {
		t.Fatalf("keys %v", got)
	}
	var d historyDoc
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("GET %s: %v: %s", target, err, body)
	}
	return d
}

func TestHandler_History(t *testing.T) {
	sock, _ := startAPI(t, false)
	c := NewClient(sock)
	// The component is sampled every 5 s, the first time at once.
	var d historyDoc
	deadline := time.Now().Add(10 * time.Second)
	for {
		d = getHistoryDoc(t, c, "/api/v1/components/svc/history")
		if len(d.Instances) == 1 && len(d.Instances[0].Time) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sample within 10 s: %+v", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
	in := d.Instances[0]
	if d.Component != "svc" || d.Window != "1h0m0s" || d.Interval != "5s" || d.Limit != 0 || d.Restarts == nil {
		t.Fatalf("header %+v", d)
	}
	now := float64(time.Now().Unix())
	if in.Index != 0 || in.RSS[0] <= 0 || in.PSS[0] != nil || in.CPU[0] < 0 || in.Time[0] < now-60 || in.Time[0] > now+1 {
		t.Fatalf("instance %+v (now %v)", in, now)
	}
	if d := getHistoryDoc(t, c, "/api/v1/components/svc/history?window=24h"); d.Window != "24h0m0s" {
		t.Fatalf("window %q", d.Window)
	}
	for _, tt := range []struct {
		target string
		code   int
		msg    string
	}{
		{"/api/v1/components/svc/history?window=25h", 400, `"window": 25h0m0s is out of range`},
		{"/api/v1/components/svc/history?window=0", 400, `"window": 0s is out of range`},
		{"/api/v1/components/svc/history?window=soon", 400, `"window"`},
		{"/api/v1/components/svc/history?window=-1h", 400, `"window"`},
		{"/api/v1/components/svc/history?since=1", 400, `"since"`},
		{"/api/v1/components/nope/history", 404, `unknown component "nope"`},
	} {
		if code, msg := rawDo(t, c, "GET", tt.target); code != tt.code || !strings.Contains(msg, tt.msg) {
			t.Errorf("GET %s: %d %q, want %d with %q", tt.target, code, msg, tt.code, tt.msg)
		}
	}
}
