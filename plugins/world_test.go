package plugins_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/plugins"
)

// worldLua is a thorp.lua whose one hook runs the Lua case named by its
// argument's "case", with the rest of the argument as ev.
const worldLua = `local cases = {}
cases.get = function(ev)
  local r = thorp.http{ url = ev.url }
  return { status = r.status, body = r.body, test = r.headers["x-test"] }
end
cases.post_json = function(ev)
  local r = thorp.http{ method = "post", url = ev.url, headers = { ["X-Token"] = "t", host = "api.internal" },
    json = { a = 1, list = { 1, 2, "x" }, empty = {}, n = thorp.json.null, html = "<&>" } }
  return thorp.json.decode(r.body)
end
cases.get_with = function(ev)
  return thorp.http{ url = ev.url, timeout = ev.timeout }.status
end
cases.exec = function(ev)
  return thorp.exec{ argv = ev.argv, stdin = ev.stdin, env = ev.env, timeout = ev.timeout }
end
cases.json = function(ev)
  local s = thorp.json.encode({ a = 1, list = { 1, 2, "x" }, empty = {}, t = true, n = thorp.json.null, nested = { k = "v" } })
  local back = thorp.json.decode('{"a":[1,2,{"b":null}],"c":"<&>","d":1.5}')
  return { encoded = s, back = back, scalar = thorp.json.encode("<&>"), num = thorp.json.encode(3) }
end
cases.json_bad = function(ev)
  if ev.what == "function" then return thorp.json.encode({ f = print }) end
  if ev.what == "mixed" then return thorp.json.encode({ 1, a = 2 }) end
  if ev.what == "nan" then return thorp.json.encode(0/0) end
  return thorp.json.decode("{bad")
end
on("start", function(ev) return cases[ev.case](ev) end)
`

// worldHook evaluates src with grants p and returns its first hook.
func worldHook(t *testing.T, src string, p config.PluginSettings) config.Func {
	t.Helper()
	raw, s, ps := evaluate(t, writeLua(t, src), plugins.Options{Version: "test"})
	if s == nil {
		t.Fatalf("problems: %q", problemStrings(ps))
	}
	s.Grant(p)
	return raw.Hooks[0].Func
}

// call runs the hook's case with arg under timeout.
func call(t *testing.T, hook config.Func, c string, arg map[string]any, timeout time.Duration) (any, error) {
	t.Helper()
	a := map[string]any{"case": c}
	for k, v := range arg {
		a[k] = v
	}
	return hook.Call(t.Context(), a, timeout)
}

// wantErr fails unless err says each of want.
func wantErr(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one saying %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not say %q", err, w)
		}
	}
}

func TestHTTP_AllowedLoopback(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Test", r.UserAgent())
		if r.URL.Path == "/missing" {
			http.Error(w, "nope", http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, "hello")
	}))
	defer srv.Close()
	hook := worldHook(t, worldLua, config.PluginSettings{})
	for _, u := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)} {
		got, err := call(t, hook, "get", map[string]any{"url": u}, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"status": 201.0, "body": "hello", "test": "thorp/test"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v, want %#v", u, got, want)
		}
	}
	// A status that is not 2xx is a result, not an error.
	got, err := call(t, hook, "get", map[string]any{"url": srv.URL + "/missing"}, time.Second)
	if err != nil || got.(map[string]any)["status"] != 404.0 {
		t.Errorf("404: got %#v, %v", got, err)
	}
}

func TestHTTP_JSONBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		// Echo what arrived, as JSON the hook decodes.
		fmt.Fprintf(w, `{"method":%q,"type":%q,"token":%q,"host":%q,"body":%s}`, r.Method, r.Header.Get("Content-Type"), r.Header.Get("X-Token"), r.Host, body)
	}))
	defer srv.Close()
	hook := worldHook(t, worldLua, config.PluginSettings{})
	got, err := call(t, hook, "post_json", map[string]any{"url": srv.URL}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"method": "POST", "type": "application/json", "token": "t", "host": "api.internal",
		"body": map[string]any{"a": 1.0, "list": []any{1.0, 2.0, "x"}, "empty": map[string]any{}, "html": "<&>"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
}

func TestHTTP_RefusedHosts(t *testing.T) {
	hook := worldHook(t, worldLua, config.PluginSettings{AllowHosts: []string{"hooks.example.org"}})
	for _, u := range []string{"http://example.com/", "https://EXAMPLE.com:8443/x", "http://10.1.2.3/"} {
		start := time.Now()
		_, err := call(t, hook, "get", map[string]any{"url": u}, time.Second)
		wantErr(t, err, "thorp.lua:3: thorp.http: host ", "is not in settings.plugins.allow_hosts (loopback is always allowed)")
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("%s: refused after %s: did it reach for the network?", u, d)
		}
	}
	for u, want := range map[string]string{
		"ftp://127.0.0.1/":  `the scheme must be http or https`,
		"http:///nohost":    `has no host`,
		"http://[::1:bad/":  `bad url`,
		"":                  `url is required`,
		"http://127.0.0.1:": `thorp.http: GET http://127.0.0.1:`,
	} {
		_, err := call(t, hook, "get", map[string]any{"url": u}, time.Second)
		wantErr(t, err, want)
	}
}

func TestHTTP_Redirects(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, "http://example.com/landing", http.StatusFound)
		case "/near":
			// Loopback under another name: allowed.
			http.Redirect(w, r, "http://localhost:"+r.URL.Query().Get("port")+"/landing", http.StatusFound)
		default:
			fmt.Fprint(w, "landed")
		}
	}))
	defer srv.Close()
	hook := worldHook(t, worldLua, config.PluginSettings{})
	_, err := call(t, hook, "get", map[string]any{"url": srv.URL + "/away"}, time.Second)
	wantErr(t, err, `thorp.http: GET `+srv.URL+`/away: redirect to host "example.com", which is not in settings.plugins.allow_hosts`)

	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	got, err := call(t, hook, "get", map[string]any{"url": srv.URL + "/near?port=" + port}, time.Second)
	if err != nil || got.(map[string]any)["body"] != "landed" {
		t.Errorf("redirect within loopback: got %#v, %v", got, err)
	}
}

func TestHTTP_BodyCap(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		_, _ = w.Write(make([]byte, n))
	}))
	defer srv.Close()
	hook := worldHook(t, worldLua, config.PluginSettings{})
	got, err := call(t, hook, "get", map[string]any{"url": fmt.Sprintf("%s?n=%d", srv.URL, plugins.MaxHTTPBody)}, 5*time.Second)
	if err != nil || len(got.(map[string]any)["body"].(string)) != int(plugins.MaxHTTPBody) {
		t.Fatalf("a body of exactly 1 MiB: %v", err)
	}
	_, err = call(t, hook, "get", map[string]any{"url": fmt.Sprintf("%s?n=%d", srv.URL, plugins.MaxHTTPBody+1)}, 5*time.Second)
	wantErr(t, err, "response body over 1 MiB")
}

func TestHTTP_Timeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	hook := worldHook(t, worldLua, config.PluginSettings{})
	start := time.Now()
	_, err := call(t, hook, "get_with", map[string]any{"url": srv.URL, "timeout": "150ms"}, time.Second)
	wantErr(t, err, "no response within 150ms (its timeout)")
	if d := time.Since(start); d < 150*time.Millisecond || d > 2*time.Second {
		t.Errorf("the request ended after %s, want about 150ms", d)
	}
	for timeout, want := range map[string]string{"0s": "timeout must be more than 0", "61s": "timeout 1m1s is over the longest allowed, 1m0s", "soon": `"soon" is not a duration`} {
		_, err := call(t, hook, "get_with", map[string]any{"url": srv.URL, "timeout": timeout}, time.Second)
		wantErr(t, err, want)
	}
}

// TestHTTP_WaitExtendsTheCallLimit: a hook under a 200ms limit waits 1s
// for a slow webhook and succeeds; time spent in Lua is still bounded.
func TestHTTP_WaitExtendsTheCallLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(time.Second): // the slow webhook
		case <-r.Context().Done():
		}
		fmt.Fprint(w, "late")
	}))
	defer srv.Close()
	hook := worldHook(t, worldLua, config.PluginSettings{})
	start := time.Now()
	got, err := call(t, hook, "get", map[string]any{"url": srv.URL}, 200*time.Millisecond)
	if err != nil || got.(map[string]any)["body"] != "late" {
		t.Fatalf("got %#v, %v; want the slow answer", got, err)
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("returned after %s, before the webhook answered", d)
	}

	// After the wait the limit is the call's own again: a busy loop after
	// a wait is stopped about 200ms after the wait returned.
	busy := worldHook(t, `on("start", function(ev) thorp.http{ url = ev.url } while true do end end)`, config.PluginSettings{})
	start = time.Now()
	_, err = busy.Call(t.Context(), map[string]any{"url": srv.URL}, 200*time.Millisecond)
	if !errors.Is(err, plugins.ErrOverrun) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want an overrun", err)
	}
	if d := time.Since(start); d < 1200*time.Millisecond || d > 2500*time.Millisecond {
		t.Errorf("the busy loop after a 1s wait was stopped after %s in all, want about 1.2s", d)
	}

	// And a busy loop without any wait is stopped at 200ms.
	loop := worldHook(t, `on("start", function() while true do end end)`, config.PluginSettings{})
	start = time.Now()
	_, err = loop.Call(t.Context(), nil, 200*time.Millisecond)
	if !errors.Is(err, plugins.ErrOverrun) {
		t.Fatalf("err = %v, want an overrun", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > time.Second {
		t.Errorf("busy loop stopped after %s, want about 200ms", d)
	}
}

func TestWorld_RefusedWhileLoading(t *testing.T) {
	for _, fn := range []string{`thorp.http{ url = "http://127.0.0.1:1/" }`, `thorp.exec{ argv = { "/bin/echo" } }`} {
		src := "settings { plugins = { allow_exec = { \"/bin/echo\" } } }\n" + fn + "\n"
		_, s, ps := evaluate(t, writeLua(t, src), plugins.Options{})
		name := fn[:strings.Index(fn, "{")]
		want := "thorp.lua:2: " + name + " can only be called from hooks, timers and functions thorp calls later, not while thorp.lua loads"
		if s != nil || len(ps) != 1 || !strings.HasSuffix(ps[0].String(), "/"+want) {
			t.Errorf("%s at the top level: problems %q, want %q", name, problemStrings(ps), want)
		}
	}
}

func TestJSON(t *testing.T) {
	hook := worldHook(t, worldLua, config.PluginSettings{})
	got, err := call(t, hook, "json", nil, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"encoded": `{"a":1,"empty":{},"list":[1,2,"x"],"n":null,"nested":{"k":"v"},"t":true}`,
		"back":    map[string]any{"a": []any{1.0, 2.0, map[string]any{}}, "c": "<&>", "d": 1.5},
		"scalar":  `"<&>"`,
		"num":     "3",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
	for what, msg := range map[string]string{
		"function": "thorp.json.encode: f: a function cannot be encoded as JSON",
		"mixed":    "thorp.json.encode: table mixes list items and named keys",
		"nan":      "thorp.json.encode: json: unsupported value: NaN",
		"decode":   "thorp.json.decode: invalid character 'b'",
	} {
		_, err := call(t, hook, "json_bad", map[string]any{"what": what}, time.Second)
		wantErr(t, err, msg)
	}
}

// execGrants lists the programs the exec tests run.
var execGrants = config.PluginSettings{AllowExec: []string{"/bin/echo", "/bin/sh"}}

func execCall(t *testing.T, hook config.Func, arg map[string]any) (map[string]any, error) {
	t.Helper()
	got, err := call(t, hook, "exec", arg, time.Second)
	m, _ := got.(map[string]any)
	return m, err
}

func TestExec_RunsAllowedPrograms(t *testing.T) {
	hook := worldHook(t, worldLua, execGrants)
	got, err := execCall(t, hook, map[string]any{"argv": []any{"/bin/echo", "hello", "world"}})
	if err != nil || !reflect.DeepEqual(got, map[string]any{"code": 0.0, "stdout": "hello world\n", "stderr": ""}) {
		t.Fatalf("echo: %#v, %v", got, err)
	}
	// stdin, env (and only PATH of thorp's), exit code, stderr.
	t.Setenv("THORP_TEST_SECRET", "leak")
	got, err = execCall(t, hook, map[string]any{
		"argv":  []any{"/bin/sh", "-c", `cat; echo "$FOO|$THORP_TEST_SECRET|${PATH:+path}"; echo oops >&2; exit 3`},
		"stdin": "in\n", "env": map[string]any{"FOO": "bar"},
	})
	if err != nil || !reflect.DeepEqual(got, map[string]any{"code": 3.0, "stdout": "in\nbar||path\n", "stderr": "oops\n"}) {
		t.Fatalf("sh: %#v, %v", got, err)
	}
	got, err = execCall(t, hook, map[string]any{"argv": []any{"/bin/sh", "-c", "kill -TERM $$"}})
	if err != nil || !reflect.DeepEqual(got, map[string]any{"signal": "SIGTERM", "stdout": "", "stderr": ""}) {
		t.Fatalf("killed by a signal: %#v, %v", got, err)
	}
	got, err = execCall(t, hook, map[string]any{"argv": []any{"/bin/sh", "-c", "head -c 2000000 /dev/zero"}})
	if out, _ := got["stdout"].(string); err != nil || !strings.HasPrefix(out, strings.Repeat("\x00", int(plugins.MaxExecOutput))+"\n… (951424 bytes cut") {
		t.Fatalf("2 MB of output: %d bytes, %v", len(out), err)
	}
}

func TestExec_Refused(t *testing.T) {
	hook := worldHook(t, worldLua, execGrants)
	for argv, want := range map[string]string{
		"/bin/cat":       "thorp.lua:15: thorp.exec: /bin/cat is not in settings.plugins.allow_exec (it lists /bin/echo, /bin/sh)",
		"echo":           `thorp.exec: "echo" is not an absolute path`,
		"/bin/../bin/sh": "thorp.exec: /bin/../bin/sh is not in settings.plugins.allow_exec",
	} {
		_, err := execCall(t, hook, map[string]any{"argv": []any{argv}})
		wantErr(t, err, want)
	}
	_, err := execCall(t, hook, map[string]any{"argv": []any{}})
	wantErr(t, err, "thorp.exec: argv must be a list")
	_, err = execCall(t, hook, map[string]any{"argv": []any{"/bin/echo"}, "env": map[string]any{"A=B": "x"}})
	wantErr(t, err, `thorp.exec: env: "A=B" is not a variable name`)

	none := worldHook(t, worldLua, config.PluginSettings{})
	_, err = execCall(t, none, map[string]any{"argv": []any{"/bin/echo"}})
	wantErr(t, err, "/bin/echo is not in settings.plugins.allow_exec (it lists none)")
}

// TestExec_KilledAtItsTimeoutWithItsGroup: a program past its timeout is
// killed with everything in its process group, a grandchild too; and the
// call's own 200ms limit is held off meanwhile.
func TestExec_KilledAtItsTimeoutWithItsGroup(t *testing.T) {
	hook := worldHook(t, worldLua, execGrants)
	pidFile := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	_, err := call(t, hook, "exec", map[string]any{
		"argv":    []any{"/bin/sh", "-c", `sleep 100 & echo $! > "$PIDFILE"; sleep 100`},
		"env":     map[string]any{"PIDFILE": pidFile},
		"timeout": "500ms",
	}, 200*time.Millisecond)
	wantErr(t, err, "thorp.exec: /bin/sh killed after 500ms (its timeout), with its process group")
	if errors.Is(err, plugins.ErrOverrun) {
		t.Errorf("err = %v: the wait counted against the call's limit", err)
	}
	if d := time.Since(start); d < 500*time.Millisecond || d > 3*time.Second {
		t.Errorf("killed after %s, want about 500ms", d)
	}
	waitGone(t, readPid(t, pidFile))

	// A program that exits leaves nothing running in its group.
	got, err := execCall(t, hook, map[string]any{"argv": []any{"/bin/sh", "-c", "sleep 100 & echo $!"}})
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(got["stdout"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// waitGone waits up to 5s for pid to be gone or a zombie (killed, not yet
// reaped by whoever it was re-parented to).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		if s := string(stat); strings.Contains(s[strings.LastIndex(s, ")"):], ") Z") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs: %s", pid, stat)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
