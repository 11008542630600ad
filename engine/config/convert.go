package config

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
)

var (
	sizeType      = reflect.TypeFor[Size]()
	durationType  = reflect.TypeFor[time.Duration]()
	signalType    = reflect.TypeFor[Signal]()
	commandType   = reflect.TypeFor[Command]()
	funcType      = reflect.TypeFor[Func]()
	healthPtrType = reflect.TypeFor[*Health]()
	proxyPtrType  = reflect.TypeFor[*Proxy]()
	watchPtrType  = reflect.TypeFor[*Watch]()
	settingsType  = reflect.TypeFor[Settings]()
	componentType = reflect.TypeFor[Component]()
	envType       = reflect.TypeFor[map[string]string]()
)

// valueError is a problem with one value; its message is shown to the
// operator as is, after the key.
type valueError struct{ msg string }

func (e *valueError) Error() string { return e.msg }

// describe renders a raw value for "got …" in messages.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "nothing"
	case string:
		return strconv.Quote(x)
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32)
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprintf("%d", x)
	case map[string]any:
		if len(x) == 0 {
			return "an empty table"
		}
		return "a table"
	case []any:
		return "a list"
	case Func, funcRef:
		return "a function"
	case time.Duration:
		return strconv.Quote(x.String())
	case Size:
		return x.String()
	case Signal:
		return x.String()
	default:
		return fmt.Sprintf("%v", x)
	}
}

func expected(what string, got any) error {
	return fmt.Errorf("expected %s, got %s", what, describe(got))
}

// convert turns v into a value of type t, or explains why it cannot.
func convert(t reflect.Type, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if reflect.TypeOf(v) == t {
		return v, nil
	}
	switch t {
	case sizeType:
		return toSize(v)
	case durationType:
		return toDuration(v)
	case signalType:
		return toSignal(v)
	case commandType:
		return toCommand(v)
	}
	switch t.Kind() {
	case reflect.String:
		if s, ok := v.(string); ok {
			return reflect.ValueOf(s).Convert(t).Interface(), nil
		}
		return nil, expected("a string", v)
	case reflect.Bool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, expected("true or false", v)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := toInt(v)
		if err != nil {
			return nil, err
		}
		return reflect.ValueOf(n).Convert(t).Interface(), nil
	case reflect.Slice:
		items, err := toList(v, t.Elem().Kind() == reflect.String)
		if err != nil {
			return nil, err
		}
		out := reflect.MakeSlice(t, 0, len(items))
		for i, it := range items {
			c, err := convert(t.Elem(), it)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i+1, err)
			}
			out = reflect.Append(out, reflect.ValueOf(c))
		}
		return out.Interface(), nil
	case reflect.Map:
		m, err := toTable(v)
		if err != nil {
			return nil, err
		}
		out := reflect.MakeMapWithSize(t, len(m))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			var c any
			var err error
			if t.Elem().Kind() == reflect.String {
				c, err = toStringLenient(m[k])
			} else {
				c, err = convert(t.Elem(), m[k])
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out.SetMapIndex(reflect.ValueOf(k), reflect.ValueOf(c))
		}
		return out.Interface(), nil
	case reflect.Struct:
		if _, ok := v.(map[string]any); ok {
			return v, nil
		}
		return nil, expected("a table", v)
	}
	return v, nil
}

func toInt(v any) (int, error) {
	switch x := v.(type) {
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, expected("a whole number", v)
		}
		return int(x), nil
	case float32:
		return toInt(float64(x))
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return int(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return int(rv.Uint()), nil
	}
	return 0, expected("a whole number", v)
}

// toList accepts a Lua list and, when single is set, one string standing for
// a list of one. An empty Lua table arrives as an empty map (see Raw): where
// a list is expected it is an empty list. This is the one place that rule
// lives.
func toList(v any, single bool) ([]any, error) {
	switch x := v.(type) {
	case []any:
		return x, nil
	case map[string]any:
		if len(x) == 0 {
			return nil, nil
		}
	case string:
		if single {
			return []any{x}, nil
		}
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice {
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = rv.Index(i).Interface()
		}
		return out, nil
	}
	return nil, expected("a list", v)
}

// toTable accepts a Lua table of name = value.
func toTable(v any) (map[string]any, error) {
	if x, ok := v.(map[string]any); ok {
		return x, nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Map && rv.Type().Key().Kind() == reflect.String {
		out := make(map[string]any, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			out[it.Key().String()] = it.Value().Interface()
		}
		return out, nil
	}
	return nil, expected("a table of name = value", v)
}

// toStringLenient accepts strings, numbers and booleans (for env and labels).
func toStringLenient(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case int, int64, int32:
		return fmt.Sprintf("%d", x), nil
	}
	return "", expected("a string", v)
}

func toSize(v any) (Size, error) {
	switch x := v.(type) {
	case string:
		return ParseSize(x)
	case float64:
		if x < 0 {
			return 0, fmt.Errorf("%s is negative; a size must be 0 or more", describe(v))
		}
		if x >= math.MaxInt64 {
			return 0, fmt.Errorf("%s is too large a size", describe(v))
		}
		return Size(math.Round(x)), nil
	}
	if n, err := toInt(v); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("%s is negative; a size must be 0 or more", describe(v))
		}
		return Size(n), nil
	}
	return 0, expected(`a size like "150MB" or a number of bytes`, v)
}

func toDuration(v any) (time.Duration, error) {
	switch x := v.(type) {
	case string:
		return ParseDuration(x)
	case float64:
		return secondsToDuration(x, v)
	case bool, map[string]any, []any, Func, funcRef, nil:
		return 0, expected(`a duration like "4s" or a number of seconds`, v)
	}
	if n, err := toInt(v); err == nil {
		return secondsToDuration(float64(n), v)
	}
	return 0, expected(`a duration like "4s" or a number of seconds`, v)
}

func toSignal(v any) (Signal, error) {
	switch x := v.(type) {
	case string:
		return ParseSignal(x)
	case float64:
		n, err := toInt(x)
		if err != nil {
			return 0, expected(`a signal name like "SIGTERM"`, v)
		}
		return ParseSignal(strconv.Itoa(n))
	}
	return 0, expected(`a signal name like "SIGTERM"`, v)
}

const commandWant = `a list of strings like { "node", "app.js" } or a shell command string`

func toCommand(v any) (Command, error) {
	if s, ok := v.(string); ok {
		if strings.TrimSpace(s) == "" {
			return Command{}, errors.New("is empty; give a list like { \"node\", \"app.js\" } or a shell command string")
		}
		return Command{Argv: []string{"/bin/sh", "-c", s}, Shell: true}, nil
	}
	items, err := toList(v, false)
	if err != nil {
		return Command{}, expected(commandWant, v)
	}
	if len(items) == 0 {
		return Command{}, errors.New("is empty; give a list like { \"node\", \"app.js\" } or a shell command string")
	}
	argv := make([]string, len(items))
	for i, it := range items {
		s, ok := it.(string)
		if !ok {
			return Command{}, fmt.Errorf("item %d: %w", i+1, expected("a string", it))
		}
		argv[i] = s
	}
	if argv[0] == "" {
		return Command{}, errors.New("item 1 (the program) is empty")
	}
	return Command{Argv: argv}, nil
}

// keyError is a message about one (dotted) key.
type keyError struct {
	key string
	msg string
}

// decodeErrors flattens a mapstructure error into one keyError per key.
func decodeErrors(err error) []keyError {
	var out []keyError
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if de, ok := err.(*mapstructure.DecodeError); ok {
			inner := de.Unwrap()
			if _, ok := inner.(interface{ Unwrap() []error }); ok {
				walk(inner)
				return
			}
			if _, ok := inner.(*mapstructure.DecodeError); ok {
				walk(inner)
				return
			}
			msg := inner.Error()
			var ve *valueError
			if errors.As(inner, &ve) {
				msg = ve.msg
			}
			key, _, _ := strings.Cut(de.Name(), "[")
			out = append(out, keyError{key: key, msg: msg})
			return
		}
		if w := errors.Unwrap(err); w != nil {
			walk(w)
			return
		}
		out = append(out, keyError{msg: err.Error()})
	}
	walk(err)
	return out
}
