package alert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/spawn"
)

// deliver sends one alert to the webhook and the command of its settings,
// each with its retries, then counts and logs the outcome.
func (d *Dispatcher) deliver(ctx context.Context, j job) {
	p := d.payload(j.ev, j.kind)
	var errs []error
	if j.settings.Webhook != "" {
		b, err := body(p, j.settings.Format)
		if err == nil {
			err = d.retry(ctx, j, func(ctx context.Context) (bool, error) { return d.post(ctx, j.settings.Webhook, b) })
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("webhook %s: %w", redact(j.settings.Webhook), err))
		}
	}
	if len(j.settings.Command) > 0 {
		b, err := body(p, config.AlertFormatJSON)
		if err == nil {
			b = append(b, '\n')
			err = d.retry(ctx, j, func(ctx context.Context) (bool, error) { return d.run(ctx, j.settings.Command, p, b) })
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("command %s: %w", j.settings.Command[0], err))
		}
	}
	outcome := OutcomeSent
	if len(errs) > 0 {
		outcome = OutcomeFailed
	}
	d.finish(j.ev, j.kind, outcome, errors.Join(errs...))
}

// retry calls try, each attempt bounded by the timeout, until it succeeds,
// fails for good (try says not to retry), or the retries are used up;
// between attempts it waits the backoff, doubling from Options.Backoff.
func (d *Dispatcher) retry(ctx context.Context, j job, try func(context.Context) (again bool, err error)) error {
	wait := d.backoff
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, j.settings.Timeout)
		again, err := try(actx)
		cancel()
		switch {
		case err == nil:
			return nil
		case !again || attempt == 1 && j.settings.Retries == 0:
			return err
		case attempt > j.settings.Retries || ctx.Err() != nil:
			return fmt.Errorf("%d attempts, the last: %w", attempt, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("thorp stopped before retry %d: %w", attempt, err)
		case <-t.C:
		}
		wait = min(2*wait, maxBackoff)
	}
}

// newClient is the webhook's HTTP client: its own transport, and no
// redirects (a 3xx is an answer, and a failure).
func newClient() *http.Client {
	return &http.Client{
		Transport:     http.DefaultTransport.(*http.Transport).Clone(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// maxResponse is how much of a webhook's answer is read (and a command's
// stderr kept) for the log.
const maxResponse = 512

// post POSTs b to the webhook: a 2xx is success, a 5xx, a 429 or a
// transport error may be retried, any other answer is final.
func (d *Dispatcher) post(ctx context.Context, webhook string, b []byte) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhook, bytes.NewReader(b))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.agent)
	resp, err := d.client.Do(req)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err // its URL may hold a secret (Slack's does)
		}
		return true, err
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return false, nil
	case code >= 500 || code == http.StatusTooManyRequests:
		return true, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(answer)))
	default:
		return false, fmt.Errorf("%s (not retried): %s", resp.Status, strings.TrimSpace(string(answer)))
	}
}

// redact returns webhook without its path and query, which often hold a
// token.
func redact(webhook string) string {
	u, err := url.Parse(webhook)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// run runs the alert command once: argv without a shell, the alert as JSON
// on its stdin and in THORP_ALERT_* variables, in its own process group,
// which is killed when ctx ends. A command that cannot start is final; a
// non-zero exit or a timeout may be retried.
func (d *Dispatcher) run(ctx context.Context, argv []string, p Payload, b []byte) (bool, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = bytes.NewReader(b)
	stderr := &tailBuffer{max: maxResponse}
	cmd.Stderr = stderr
	cmd.Env = append(os.Environ(),
		"THORP_ALERT_KIND="+envValue(p.Kind),
		"THORP_ALERT_COMPONENT="+envValue(p.Component),
		"THORP_ALERT_MESSAGE="+envValue(p.Message))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// The group is killed at the timeout; Wait then ends once the pipes
	// close (a grandchild holding them gets a second).
	cmd.WaitDelay = time.Second
	// In a group of its own it looks like an orphan to thorp's reaper:
	// StartWaited keeps its exit status for this Wait.
	forget, err := spawn.StartWaited(cmd)
	if err != nil {
		return false, err
	}
	defer forget()
	stop := context.AfterFunc(ctx, func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	err = cmd.Wait()
	stopped := !stop()
	switch {
	case err == nil:
		return false, nil
	case stopped && errors.Is(context.Cause(ctx), context.DeadlineExceeded):
		return true, errors.New("timed out; its process group was killed")
	case stopped:
		return true, fmt.Errorf("its process group was killed: %w", context.Cause(ctx))
	default:
		if s := strings.TrimSpace(stderr.String()); s != "" {
			err = fmt.Errorf("%w: %s", err, s)
		}
		return true, err
	}
}

// envValue is s without NUL bytes, which an environment cannot hold.
func envValue(s string) string { return strings.ReplaceAll(s, "\x00", "") }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = t.buf[over:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.buf) }
