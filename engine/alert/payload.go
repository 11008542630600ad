package alert

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/config"
)

// Payload is an alert as the webhook (format "json") and the command (on
// its stdin) get it.
type Payload struct {
	// Kind is the alert's kind: "errored", "health", "memory",
	// "restarts" or "lua".
	Kind string `json:"kind"`
	// Component and Instance are whom the alert is about ("" and 0 for a
	// thorp.alert that names no component).
	Component string `json:"component"`
	Instance  int    `json:"instance"`
	// Message says what happened; it is the same for the same situation,
	// which is what the rate limit compares.
	Message string `json:"message"`
	// Fields are the alert's figures and details; never null.
	Fields map[string]string `json:"fields"`
	// Time is when the alert was raised.
	Time time.Time `json:"time"`
	// Host is the machine thorp runs on.
	Host string `json:"host"`
}

// SlackPayload is the body of an alert in format "slack": a Slack
// incoming-webhook message.
type SlackPayload struct {
	Text string `json:"text"`
}

// payload returns the alert ev of kind as a Payload.
func (d *Dispatcher) payload(ev engine.Event, kind string) Payload {
	fields := ev.Fields
	if fields == nil {
		fields = map[string]string{}
	}
	return Payload{Kind: kind, Component: ev.Component, Instance: ev.Instance, Message: ev.Message,
		Fields: fields, Time: ev.Time, Host: d.host}
}

// body returns p encoded in format.
func body(p Payload, format string) ([]byte, error) {
	if format == config.AlertFormatSlack {
		return json.Marshal(SlackPayload{Text: slackText(p)})
	}
	return json.Marshal(p)
}

// slackEscaper escapes the three characters Slack's message text reserves.
var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// slackText is p as one Slack message line, e.g.
// "thorp on web-1: restarts alert for api: more than 10 restarts in the
// last hour (reason=crash, restarts=11, restarts_per_hour=10)".
func slackText(p Payload) string {
	var b strings.Builder
	fmt.Fprintf(&b, "thorp on %s: %s alert", p.Host, p.Kind)
	if p.Component != "" {
		fmt.Fprintf(&b, " for %s", p.Component)
		if p.Instance > 0 {
			fmt.Fprintf(&b, " (instance %d)", p.Instance)
		}
	}
	b.WriteString(": " + p.Message)
	if len(p.Fields) > 0 {
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(p.Fields)) {
			kv = append(kv, k+"="+p.Fields[k])
		}
		b.WriteString(" (" + strings.Join(kv, ", ") + ")")
	}
	return slackEscaper.Replace(b.String())
}
