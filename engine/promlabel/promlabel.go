// Package promlabel escapes label values for the Prometheus text
// exposition format, the one escaping every thorp metric shares: /metrics,
// the balancer's series, the alert counters and pushed series.
package promlabel

import "strings"

var escaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// Escape returns v with backslash, double quote and newline escaped as the
// text format wants inside `name{label="…"}`; v itself when nothing needs
// escaping.
func Escape(v string) string { return escaper.Replace(v) }
