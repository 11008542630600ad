package config

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MinTokenLength is the fewest characters settings.token may have.
const MinTokenLength = 16

// tokenRule says what a token must look like, for error messages.
var tokenRule = fmt.Sprintf("a token is at least %d printable ASCII characters without spaces, e.g. the output of 'openssl rand -hex 16'", MinTokenLength)

// checkToken returns "" when tok is empty (no token) or a usable token:
// at least MinTokenLength printable ASCII characters, none a space. The
// message never quotes the token, which is a secret.
func checkToken(tok string) string {
	if tok == "" {
		return ""
	}
	n := 0
	for _, r := range tok {
		n++
		switch {
		case r == ' ':
			return fmt.Sprintf("character %d is a space; %s", n, tokenRule)
		case r < '!' || r > '~':
			return fmt.Sprintf("character %d is not printable ASCII; %s", n, tokenRule)
		}
	}
	if n < MinTokenLength {
		return fmt.Sprintf("is %d characters long; %s", n, tokenRule)
	}
	return ""
}

// checkHTTPHost returns "" when h is a valid settings.http_hosts entry.
func checkHTTPHost(h string) string {
	if _, _, err := SplitHost(h); err != nil {
		return fmt.Sprintf(`%q %v (use a host name or IP address, optionally with ":port", like "thorp.example.com" or "thorp.example.com:3001")`, h, err)
	}
	return ""
}

// thorpLabels are the label names of the series on thorp's /metrics and
// in its push (its own, the balancers', the Go runtime's and the push's
// own metrics_push_*{url}); a pushed label of the same name would make a
// series with the label twice, which receivers reject.
// TestRun_MetricsPushToImportEndpoint (cmd/thorp) checks every label of a
// live push is here.
var thorpLabels = []string{"component", "reason", "state", "stream", "kind", "outcome", "instance", "index", "code", "dir",
	"url", "quantile", "le", "version", "compiler", "GOARCH", "GOOS", "GOROOT"}

// checkPushLabel returns "" when name may label every pushed series: a
// Prometheus label name that is not reserved ("__…") nor one of thorp's own.
func checkPushLabel(name string) string {
	ok := name != "" && !strings.HasPrefix(name, "__")
	for i, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || i > 0 && '0' <= c && c <= '9') {
			ok = false
		}
	}
	switch {
	case !ok:
		return fmt.Sprintf("%q is not a label name (letters, digits and '_', not starting with a digit or \"__\")", name)
	case slices.Contains(thorpLabels, name):
		return fmt.Sprintf("%q is a label of thorp's own series; pick another name", name)
	}
	return ""
}

// SplitHost splits an HTTP Host value or a settings.http_hosts entry,
// "name", "name:port", "1.2.3.4:port" or "[::1]:port", into its host, in
// lower case without a trailing dot or brackets, and its port ("" when
// there is none). It is an error when the host is neither a DNS name nor
// an IP address or the port is not 1–65535. It is safe for concurrent use.
func SplitHost(s string) (host, port string, err error) {
	switch {
	case s == "":
		return "", "", errors.New("is empty")
	case strings.Contains(s, "/"):
		return "", "", errors.New("is not a host (no scheme or path)")
	}
	host = s
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", errors.New("has no closing ]")
		}
		host, port = s[1:end], s[end+1:]
		if port != "" {
			var ok bool
			if port, ok = strings.CutPrefix(port, ":"); !ok {
				return "", "", errors.New("has text after ]")
			}
		}
		if ip, err := netip.ParseAddr(host); err != nil || !ip.Is6() || ip.Zone() != "" {
			return "", "", errors.New("has no IPv6 address in its brackets")
		}
	} else if strings.Count(s, ":") > 1 {
		return "", "", errors.New(`is an IPv6 address without brackets (write "[::1]" or "[::1]:3001")`)
	} else if h, p, ok := strings.Cut(s, ":"); ok {
		host, port = h, p
	}
	if port != "" || strings.HasSuffix(s, ":") {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return "", "", fmt.Errorf("has port %q, not 1-65535", port)
		}
	}
	host = strings.ToLower(host)
	if !strings.HasPrefix(s, "[") {
		host = strings.TrimSuffix(host, ".")
		if _, err := netip.ParseAddr(host); err != nil && !dnsName(host) {
			return "", "", errors.New("is not a host name or IP address")
		}
	}
	return host, port, nil
}

// dnsName reports whether s (lower case, no trailing dot) is a DNS name:
// dot-separated labels of 1–63 letters, digits, '-' or '_', none starting
// or ending with '-', at most 253 bytes in all.
func dnsName(s string) bool {
	if s == "" || len(s) > 253 || !utf8.ValidString(s) {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
