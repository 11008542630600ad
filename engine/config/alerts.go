package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The alert rules settings.alerts.on may list.
const (
	AlertErrored  = "errored"  // a component became errored (restarts stopped)
	AlertHealth   = "health"   // a health check started failing (once per failing episode)
	AlertMemory   = "memory"   // a restart for memory
	AlertRestarts = "restarts" // more than restarts_per_hour restarts of one component within an hour
)

// AlertRules are the rules settings.alerts.on may list, by name.
var AlertRules = []string{AlertErrored, AlertHealth, AlertMemory, AlertRestarts}

// The shapes of a webhook's body, settings.alerts.format.
const (
	AlertFormatJSON  = "json"
	AlertFormatSlack = "slack"
)

// DefaultAlerts returns the defaults of settings.alerts: no webhook, no
// command, no rules; a JSON body, 10 restarts an hour, 5s per attempt,
// 3 retries, an identical alert at most once a minute.
func DefaultAlerts() AlertSettings {
	return AlertSettings{
		Format:          AlertFormatJSON,
		Command:         []string{},
		On:              []string{},
		RestartsPerHour: 10,
		Timeout:         5 * time.Second,
		Retries:         3,
		RepeatInterval:  time.Minute,
	}
}

// maxAlertRetries bounds settings.alerts.retries: the backoff doubles per
// retry, so more would wait for hours.
const maxAlertRetries = 10

// validateAlerts checks settings.alerts; bad reports one problem at a key.
func validateAlerts(a AlertSettings, bad func(key, format string, args ...any)) {
	if a.Webhook != "" {
		if msg := checkHTTPURL(a.Webhook); msg != "" {
			bad("alerts.webhook", "%s", msg)
		}
	}
	if !slices.Contains([]string{AlertFormatJSON, AlertFormatSlack}, a.Format) {
		bad("alerts.format", `%q is not a format; use "json" or "slack"`, a.Format)
	}
	if len(a.Command) > 0 {
		switch prog := a.Command[0]; {
		case strings.TrimSpace(prog) == "":
			bad("alerts.command", "the program (the first item) is empty")
		case !filepath.IsAbs(prog):
			bad("alerts.command", "%q is not an absolute path; the command runs without a shell or PATH lookup, so name the program by its full path", prog)
		}
	}
	for _, rule := range a.On {
		if !slices.Contains(AlertRules, rule) {
			bad("alerts.on", "%q is not a rule; the rules are %s", rule, strings.Join(quoteAll(AlertRules), ", "))
		}
	}
	if a.RestartsPerHour < 1 {
		bad("alerts.restarts_per_hour", "must be at least 1, got %d", a.RestartsPerHour)
	}
	if a.Timeout <= 0 {
		bad("alerts.timeout", "must be more than 0")
	}
	if a.Retries < 0 || a.Retries > maxAlertRetries {
		bad("alerts.retries", "must be 0 to %d, got %d", maxAlertRetries, a.Retries)
	}
}

// quoteAll returns each of list in double quotes.
func quoteAll(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
