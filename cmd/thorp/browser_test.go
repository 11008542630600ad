package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	_ "image/png" // screenshots are PNG
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The harness of the browser tests: Debian's headless Chromium driven over
// the DevTools protocol (chromedp). `make test-deps` installs Chromium.

// chromiumPath returns the Chromium binary; a machine without one fails the
// test (CI must run the browser test, never skip it).
func chromiumPath(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("Chromium not found: run `make test-deps` (Debian's chromium)")
	return ""
}

// browser is a headless Chromium started for one test, with the console
// errors and uncaught exceptions of all its tabs.
type browser struct {
	t    testing.TB
	ctx  context.Context // the first tab's; the parent of the others
	mu   sync.Mutex
	errs []string
}

// newBrowser starts Chromium; the test's cleanup closes it.
func newBrowser(t testing.TB) *browser {
	t.Helper()
	path := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests run as root in CI
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 800),
		// No UserDataDir: the allocator passes a fresh --user-data-dir
		// of its own and removes it once Chromium and its children exit.
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first Run starts the browser, with no timeout: the browser lives
	// as long as the context of its first Run.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return &browser{t: t, ctx: ctx}
}

// consoleErrors returns what the pages reported as errors so far.
func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}

// readyProbe runs in every page before its scripts: it notes the time from
// navigation start (performance.now()) at which the page set
// body[data-ready="1"].
const readyProbe = `new MutationObserver(function (_, obs) {
  if (document.body && document.body.dataset.ready === "1") {
    window.__thorpReadyMs = performance.now();
    obs.disconnect();
  }
}).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-ready"] });`

// tab is one page of the browser, of a given viewport size.
type tab struct {
	b             *browser
	ctx           context.Context
	name          string
	width, height int64
}

// newTab opens a tab of width×height (a phone's when mobile) that reports
// its console errors to b.
func (b *browser) newTab(name string, width, height int64, mobile bool) *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type != runtime.ConsoleAPICalledTypeError {
				return
			}
			msg = "console.error: " + remoteText(ev.Args)
		case *runtime.EventExceptionThrown:
			msg = "exception: " + ev.ExceptionDetails.Text
			if ex := ev.ExceptionDetails.Exception; ex != nil && ex.Description != "" {
				msg += " " + ex.Description
			}
		default:
			return
		}
		b.mu.Lock()
		b.errs = append(b.errs, name+": "+msg)
		b.mu.Unlock()
	})
	if err != nil {
		b.t.Fatalf("tab %s: %v", name, err)
	}
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
	if mobile {
		opts = append(opts, chromedp.EmulateMobile)
	}
	tb := &tab{b: b, ctx: ctx, name: name, width: width, height: height}
	tb.do(10*time.Second, "set up", chromedp.EmulateViewport(width, height, opts...),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument,
				page.AddScriptToEvaluateOnNewDocumentParams{Source: readyProbe})
			return err
		}))
	return tb
}

// remoteText is the text of a console call's arguments.
func remoteText(args []*runtime.RemoteObject) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		switch {
		case a.Description != "":
			parts = append(parts, a.Description)
		case len(a.Value) > 0:
			parts = append(parts, string(a.Value))
		default:
			parts = append(parts, string(a.Type))
		}
	}
	return strings.Join(parts, " ")
}

// do runs the actions within timeout, failing the test with what was being
// done when they fail.
func (tb *tab) do(timeout time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.b.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.b.t.Fatalf("%s: %s: %v\nconsole errors: %q", tb.name, what, err, tb.b.consoleErrors())
	}
}

// eval evaluates a JavaScript expression in the page into v.
func eval[T any](tb *tab, timeout time.Duration, expr string) T {
	tb.b.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.b.t.Fatalf("%s: evaluating %s: %v", tb.name, expr, err)
	}
	return v
}

// poll waits, in the page, until the expression is truthy and returns its
// value; what names the wait in the failure.
func poll[T any](tb *tab, timeout time.Duration, what, expr string) T {
	tb.b.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, timeout+5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Poll[T](expr,
		chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		tb.b.t.Fatalf("%s: waiting for %s: %v\nconsole errors: %q", tb.name, what, err, tb.b.consoleErrors())
	}
	return v
}

// screenshot saves the viewport as a PNG of the tab's size in dir and logs
// its path.
func (tb *tab) screenshot(dir, name string) {
	tb.b.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.b.t.Fatalf("%s: screenshot: %v", tb.name, err)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(png))
	if err != nil {
		tb.b.t.Fatalf("%s: screenshot: %v", tb.name, err)
	}
	if int64(cfg.Width) != tb.width || int64(cfg.Height) != tb.height {
		tb.b.t.Errorf("%s: screenshot is %d×%d, want %d×%d", tb.name, cfg.Width, cfg.Height, tb.width, tb.height)
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-%dx%d.png", name, tb.width, tb.height))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.b.t.Fatal(err)
	}
	tb.b.t.Logf("screenshot %d×%d: %s", tb.width, tb.height, path)
}
