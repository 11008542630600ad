package api

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
)

// QueryError is a bad query parameter: one the endpoint does not take, one
// given twice, or a value that does not parse. Servers answer it with 400.
type QueryError struct {
	// Param is the parameter's name ("" when the query string itself is malformed).
	Param string
	// Msg says what is wrong, without the parameter's name.
	Msg string
}

func (e *QueryError) Error() string {
	if e.Param == "" {
		return "query: " + e.Msg
	}
	return fmt.Sprintf("query parameter %q: %s", e.Param, e.Msg)
}

// Query reads one request's query parameters strictly. Each getter returns
// the zero value or the given default when the parameter is absent; the
// first problem is kept and returned by Err, after which getters still
// return usable values. A Query belongs to one handler goroutine.
type Query struct {
	vals url.Values
	err  *QueryError
}

// NewQuery parses r's query string; allowed are the parameters the endpoint
// takes. A malformed query string, an unknown parameter or one given twice
// is an error (see Err).
func NewQuery(r *http.Request, allowed ...string) *Query {
	q := &Query{}
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		q.fail("", "%v", err)
	}
	q.vals = vals
	for _, name := range slices.Sorted(maps.Keys(vals)) {
		switch {
		case !slices.Contains(allowed, name):
			want := "takes no parameters"
			if len(allowed) > 0 {
				want = "takes " + strings.Join(allowed, ", ")
			}
			q.fail(name, "unknown parameter; %s %s", r.URL.Path, want)
		case len(vals[name]) > 1:
			q.fail(name, "given %d times; give it once", len(vals[name]))
		}
	}
	return q
}

// Err returns the first problem as a *QueryError, or nil.
func (q *Query) Err() error {
	if q.err == nil {
		return nil
	}
	return q.err
}

func (q *Query) fail(param, format string, args ...any) {
	if q.err == nil {
		q.err = &QueryError{Param: param, Msg: fmt.Sprintf(format, args...)}
	}
}

// Has reports whether the parameter is present (even empty).
func (q *Query) Has(name string) bool { return q.vals.Has(name) }

// String returns the parameter's value, "" when absent.
func (q *Query) String(name string) string { return q.vals.Get(name) }

// Uint returns a whole number of 0 or more, 0 when absent.
func (q *Query) Uint(name string) uint64 {
	v := q.vals.Get(name)
	if !q.Has(name) {
		return 0
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		q.fail(name, "%.64q is not a whole number of 0 or more", v)
	}
	return n
}

// Int returns a whole number of at least lowest, def when absent.
func (q *Query) Int(name string, def, lowest int) int {
	if !q.Has(name) {
		return def
	}
	v := q.vals.Get(name)
	n, err := strconv.Atoi(v)
	if err != nil || n < lowest {
		q.fail(name, "%.64q is not a whole number of %d or more", v, lowest)
		return def
	}
	return n
}

// Bool returns a flag: true for 1, t, true (any case) or an empty value
// ("?follow"), false for 0, f, false, and when absent.
func (q *Query) Bool(name string) bool {
	if !q.Has(name) {
		return false
	}
	v := q.vals.Get(name)
	if v == "" {
		return true
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		q.fail(name, "%.64q is not a flag (use 1 or 0, true or false)", v)
	}
	return b
}

// Duration returns a Go duration ("30s", "1m") of 0 or more, 0 when absent.
func (q *Query) Duration(name string) time.Duration {
	if !q.Has(name) {
		return 0
	}
	v := q.vals.Get(name)
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		q.fail(name, `%.64q is not a duration of 0 or more (like "30s")`, v)
		return 0
	}
	return d
}

// OneOf returns one of values, def when absent.
func (q *Query) OneOf(name, def string, values ...string) string {
	if !q.Has(name) {
		return def
	}
	v := q.vals.Get(name)
	if !slices.Contains(values, v) {
		q.fail(name, "%.64q is not one of %s", v, strings.Join(values, ", "))
		return def
	}
	return v
}

// Name returns one component name, "" when absent.
func (q *Query) Name(name string) string {
	if !q.Has(name) {
		return ""
	}
	v := q.vals.Get(name)
	if !config.ValidName(v) {
		q.fail(name, "%.64q is not a component name (letters, digits, '_' and '-')", v)
		return ""
	}
	return v
}

// Names returns a comma-separated list of component names (or "@TAG"s),
// nil when absent.
func (q *Query) Names(name string) []string {
	if !q.Has(name) {
		return nil
	}
	names := strings.Split(q.vals.Get(name), ",")
	for _, n := range names {
		if !config.ValidName(strings.TrimPrefix(n, config.TagPrefix)) {
			q.fail(name, "%.64q is not a component name or @tag (letters, digits, '_' and '-'; several separated by commas)", n)
			return nil
		}
	}
	return names
}
