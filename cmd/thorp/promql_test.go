package main

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode"
)

// promqlRefs is what a PromQL expression refers to: the series it selects
// (metric name and label matchers) and the label names it groups or
// matches by (by, without, on, ignoring, group_left, group_right).
type promqlRefs struct {
	selectors []promqlSelector
	labels    []string
}

// promqlSelector is one `name{label="value", …}` of an expression.
type promqlSelector struct {
	name     string
	matchers []promqlMatcher
}

// promqlMatcher is one label matcher: label, operator (=, !=, =~, !~) and
// the value as written between its quotes (escapes are not undone: the
// examples use none).
type promqlMatcher struct {
	label, op, value string
}

// promqlKeywords are the words of PromQL that are neither a metric nor a
// function: binary operators and modifiers.
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
}

// promqlGrouping are the words followed by a parenthesised list of labels.
var promqlGrouping = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// parsePromQLRefs extracts the metric names, label matchers and grouping
// labels of expr. It is a small tokenizer, not a PromQL parser: it knows
// identifiers, strings, numbers with units, range brackets (skipped, with
// Grafana's $__rate_interval), braces (matchers) and parentheses. An
// identifier followed by "(", by or without is a function or aggregation; one of by,
// without, on, ignoring, group_left or group_right is followed by a label
// list; any other identifier is a metric name. promtool checks the syntax
// itself; this is for the names.
func parsePromQLRefs(expr string) (promqlRefs, error) {
	var refs promqlRefs
	s := expr
	skipSpace := func() { s = strings.TrimLeftFunc(s, unicode.IsSpace) }
	isIdentStart := func(c byte) bool { return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isIdent := func(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }
	ident := func() string {
		i := 0
		for i < len(s) && isIdent(s[i]) {
			i++
		}
		id := s[:i]
		s = s[i:]
		return id
	}
	quoted := func() (string, error) {
		q := s[0]
		for i := 1; i < len(s); i++ {
			if s[i] == '\\' && q != '`' {
				i++
				continue
			}
			if s[i] == q {
				v := s[1:i]
				s = s[i+1:]
				return v, nil
			}
		}
		return "", fmt.Errorf("unterminated string in %q", expr)
	}
	// matchers parses `{label op "value", …}`, s starting at "{".
	matchers := func() ([]promqlMatcher, error) {
		var ms []promqlMatcher
		s = s[1:]
		for {
			skipSpace()
			if strings.HasPrefix(s, "}") {
				s = s[1:]
				return ms, nil
			}
			if s == "" || !isIdentStart(s[0]) {
				return nil, fmt.Errorf("bad label matcher at %q in %q", s, expr)
			}
			m := promqlMatcher{label: ident()}
			skipSpace()
			for _, op := range []string{"=~", "!~", "!=", "="} {
				if strings.HasPrefix(s, op) {
					m.op = op
					s = s[len(op):]
					break
				}
			}
			skipSpace()
			if m.op == "" || s == "" || !strings.ContainsRune("\"'`", rune(s[0])) {
				return nil, fmt.Errorf("bad label matcher %q at %q in %q", m.label, s, expr)
			}
			v, err := quoted()
			if err != nil {
				return nil, err
			}
			m.value = v
			ms = append(ms, m)
			skipSpace()
			s = strings.TrimPrefix(s, ",")
		}
	}
	for {
		skipSpace()
		if s == "" {
			return refs, nil
		}
		c := s[0]
		switch {
		case c == '"' || c == '\'' || c == '`':
			if _, err := quoted(); err != nil {
				return refs, err
			}
		case c == '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return refs, fmt.Errorf("unterminated range in %q", expr)
			}
			s = s[end+1:]
		case c >= '0' && c <= '9' || c == '.':
			i := 0
			for i < len(s) && (isIdent(s[i]) || s[i] == '.') {
				i++
			}
			s = s[i:]
		case c == '{':
			return refs, fmt.Errorf("a selector without a metric name in %q", expr)
		case isIdentStart(c):
			id := ident()
			skipSpace()
			switch {
			case promqlGrouping[id]:
				if !strings.HasPrefix(s, "(") {
					continue // group_left without a label list
				}
				end := strings.IndexByte(s, ')')
				if end < 0 {
					return refs, fmt.Errorf("unterminated label list after %s in %q", id, expr)
				}
				for _, l := range strings.Split(s[1:end], ",") {
					if l = strings.TrimSpace(l); l != "" {
						refs.labels = append(refs.labels, l)
					}
				}
				s = s[end+1:]
			case promqlKeywords[id]:
			case strings.HasPrefix(s, "("): // a function or an aggregation
			case startsWord(s, "by") || startsWord(s, "without"): // sum by (…) (…)
			default:
				sel := promqlSelector{name: id}
				if strings.HasPrefix(s, "{") {
					ms, err := matchers()
					if err != nil {
						return refs, err
					}
					sel.matchers = ms
				}
				refs.selectors = append(refs.selectors, sel)
			}
		default: // operators, parentheses, commas
			s = s[1:]
		}
	}
}

// startsWord reports whether s starts with the identifier word.
func startsWord(s, word string) bool {
	rest, ok := strings.CutPrefix(s, word)
	return ok && (rest == "" || !strings.ContainsAny(rest[:1], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:"))
}

func TestParsePromQLRefs(t *testing.T) {
	for _, tt := range []struct {
		expr      string
		want      []promqlSelector
		wantLabel []string
	}{
		{`up{job="thorp"} == 0`, []promqlSelector{{"up", []promqlMatcher{{"job", "=", "thorp"}}}}, nil},
		{`sum by (job, instance, component) (increase(thorp_component_restarts_total[1h])) > 10`,
			[]promqlSelector{{"thorp_component_restarts_total", nil}}, []string{"job", "instance", "component"}},
		{"thorp_component_healthy == 0\n  unless on (job, instance, component) thorp_component_state{state=\"errored\"} == 1",
			[]promqlSelector{{"thorp_component_healthy", nil}, {"thorp_component_state", []promqlMatcher{{"state", "=", "errored"}}}},
			[]string{"job", "instance", "component"}},
		{`a > on (c) group_left 0.9 * (b > 0)`, []promqlSelector{{"a", nil}, {"b", nil}}, []string{"c"}},
		{`histogram_quantile(0.99, sum by (le) (rate(x_bucket{instance=~"$instance", component!~'a,b'}[$__rate_interval])))`,
			[]promqlSelector{{"x_bucket", []promqlMatcher{{"instance", "=~", "$instance"}, {"component", "!~", "a,b"}}}}, []string{"le"}},
		{`rate(x[5m] offset 1h) / 1e6 and bool y`, []promqlSelector{{"x", nil}, {"y", nil}}, nil},
	} {
		got, err := parsePromQLRefs(tt.expr)
		if err != nil {
			t.Errorf("%q: %v", tt.expr, err)
			continue
		}
		if !reflect.DeepEqual(got.selectors, tt.want) || !reflect.DeepEqual(got.labels, tt.wantLabel) {
			t.Errorf("%q:\n got %+v %q\nwant %+v %q", tt.expr, got.selectors, got.labels, tt.want, tt.wantLabel)
		}
	}
	for _, bad := range []string{`x{a="b}`, `{__name__="x"}`, `x{a}`, `rate(x[5m)`} {
		if _, err := parsePromQLRefs(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
