package drill

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"
)

// serve answers 200 on a loopback listener until stopped.
func serve(t *testing.T, ln net.Listener) *http.Server {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })}
	go srv.Serve(ln)
	return srv
}

func TestRun_NoFailuresWhenTheServiceStaysUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, ln)
	defer srv.Close()
	rep, err := Run(context.Background(), Options{URL: "http://" + ln.Addr().String() + "/", Duration: 300 * time.Millisecond,
		Concurrency: 2, Restart: func(context.Context) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests == 0 || rep.Failed != 0 || rep.SuccessRate != 1 {
		t.Fatalf("report %+v", rep)
	}
}

func TestRun_CountsRequestsDuringAndAfterTheRestart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, ln)
	defer srv.Close()
	var restartStart, restartEnd time.Time
	restart := func(context.Context) error {
		restartStart = time.Now()
		time.Sleep(50 * time.Millisecond) // a restart that takes a while
		restartEnd = time.Now()
		return nil
	}
	rep, err := Run(context.Background(), Options{URL: "http://" + ln.Addr().String() + "/", Duration: 2 * time.Second,
		Concurrency: 2, Restart: restart})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Covered() || rep.DuringRestart < 2 || rep.AfterRestart == 0 || rep.DuringRestart+rep.AfterRestart > rep.Requests {
		t.Fatalf("restart from %s to %s: report %+v", restartStart.Format(time.StampMicro), restartEnd.Format(time.StampMicro), rep)
	}
}

func TestRun_CountsFailuresAndDowntimeOfAnOutage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	srv := serve(t, ln)
	restart := func(context.Context) error {
		// A stop-start restart without a held socket: refused for 200 ms.
		srv.Close()
		time.Sleep(200 * time.Millisecond)
		ln2, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		srv = serve(t, ln2)
		return nil
	}
	rep, err := Run(context.Background(), Options{URL: "http://" + addr + "/", Duration: 900 * time.Millisecond,
		Concurrency: 2, MaxRequests: 50_000, Restart: restart})
	defer srv.Close()
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed == 0 || rep.SuccessRate >= 1 || len(rep.Errors) == 0 {
		t.Fatalf("an outage went unnoticed: %+v", rep)
	}
	if rep.DowntimeMS < 150 || rep.DowntimeMS > 2000 {
		t.Fatalf("downtime %.0f ms for a 200 ms outage", rep.DowntimeMS)
	}
}

func TestRun_RespectsTheRequestBudget(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, ln)
	defer srv.Close()
	rep, err := Run(context.Background(), Options{URL: "http://" + ln.Addr().String() + "/", Duration: 2 * time.Second,
		Concurrency: 4, MaxRequests: 20, Restart: func(context.Context) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 20 {
		t.Fatalf("%d requests, want exactly the budget of 20", rep.Requests)
	}
	// The budget ran out before the restart at a third of the duration.
	if rep.Covered() || rep.AfterRestart != 0 {
		t.Fatalf("a drill whose load ran out covered the restart: %+v", rep)
	}
}
