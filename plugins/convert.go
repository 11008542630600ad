package plugins

import (
	"fmt"
	"sort"
	"strconv"

	lua "github.com/yuin/gopher-lua"
)

// valueError is a Lua value that has no Go form in a config, at a key path.
type valueError struct {
	// Key is the dotted key path ("logs.max_size", "command[2]"), "" for the top.
	Key string
	Msg string
}

// luaToConfig converts Lua values from a declaration into the plain Go values
// config.Raw holds. Functions are bound to the script through fn and become
// *Function values. It collects every bad value instead of stopping at the first.
type luaToConfig struct {
	// fn registers a Lua function found at key and returns its Go reference,
	// or records a problem and returns false.
	fn func(f *lua.LFunction, key string) (any, bool)
	// other, when set, converts the values with no Go form of their own
	// (userdata, like thorp.json.null), as fn does.
	other func(v lua.LValue, key string) (any, bool)
	// errs are the values that could not be converted.
	errs []valueError
	// visiting holds the tables on the current path, to catch cycles.
	visiting map[*lua.LTable]bool
}

// convert returns v as a Go value; ok is false when v (or something inside it)
// was recorded in c.errs instead.
func (c *luaToConfig) convert(v lua.LValue, key string) (any, bool) {
	switch v := v.(type) {
	case *lua.LNilType:
		return nil, true
	case lua.LBool:
		return bool(v), true
	case lua.LString:
		return string(v), true
	case lua.LNumber:
		return float64(v), true
	case *lua.LFunction:
		return c.fn(v, key)
	case *lua.LTable:
		return c.table(v, key)
	default:
		if c.other != nil {
			return c.other(v, key)
		}
		c.fail(key, fmt.Sprintf("a %s cannot be used as a value", v.Type()))
		return nil, false
	}
}

func (c *luaToConfig) fail(key, msg string) {
	c.errs = append(c.errs, valueError{Key: key, Msg: msg})
}

// table converts a table into []any (keys exactly 1..n) or map[string]any
// (string keys only). An empty table becomes an empty map.
func (c *luaToConfig) table(t *lua.LTable, key string) (any, bool) {
	if c.visiting == nil {
		c.visiting = map[*lua.LTable]bool{}
	}
	if c.visiting[t] {
		c.fail(key, "table contains itself")
		return nil, false
	}
	c.visiting[t] = true
	defer delete(c.visiting, t)

	shape, keys, err := tableShape(t)
	if err != "" {
		c.fail(key, err)
		return nil, false
	}
	ok := true
	if shape == shapeList {
		out := make([]any, len(keys))
		for i := range keys {
			v, vok := c.convert(t.RawGetInt(i+1), fmt.Sprintf("%s[%d]", key, i+1))
			ok = ok && vok
			out[i] = v
		}
		return out, ok
	}
	out := make(map[string]any, len(keys))
	for _, k := range keys {
		v, vok := c.convert(t.RawGetString(k), joinKey(key, k))
		ok = ok && vok
		out[k] = v
	}
	return out, ok
}

// joinKey appends name to a dotted key path.
func joinKey(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

type tableKind int

const (
	shapeMap tableKind = iota
	shapeList
)

// tableShape decides whether t is a list (keys 1..n, returned as their string
// forms only for counting) or a map (string keys, returned sorted). It returns
// a message when t is neither.
func tableShape(t *lua.LTable) (tableKind, []string, string) {
	var names []string
	var nums []float64
	var other lua.LValue
	t.ForEach(func(k, _ lua.LValue) {
		switch k := k.(type) {
		case lua.LString:
			names = append(names, string(k))
		case lua.LNumber:
			nums = append(nums, float64(k))
		default:
			if other == nil {
				other = k
			}
		}
	})
	switch {
	case other != nil:
		return 0, nil, fmt.Sprintf("a %s cannot be a table key; use names or a list", other.Type())
	case len(names) > 0 && len(nums) > 0:
		return 0, nil, "table mixes list items and named keys; use one or the other"
	case len(nums) > 0:
		sort.Float64s(nums)
		for i, n := range nums {
			if n != float64(i+1) {
				return 0, nil, fmt.Sprintf("key [%s] breaks the list: a list's items must be numbered 1, 2, 3, … without gaps",
					strconv.FormatFloat(n, 'g', -1, 64))
			}
		}
		return shapeList, make([]string, len(nums)), ""
	}
	sort.Strings(names)
	return shapeMap, names, ""
}

// goToLua converts a Go value from the engine into a Lua value. Supported are
// nil, string, bool, the integer and float types, map[string]any,
// map[string]string, []any and []string.
func goToLua(L *lua.LState, v any) (lua.LValue, error) {
	switch v := v.(type) {
	case nil:
		return lua.LNil, nil
	case string:
		return lua.LString(v), nil
	case bool:
		return lua.LBool(v), nil
	case float64:
		return lua.LNumber(v), nil
	case float32:
		return lua.LNumber(v), nil
	case int:
		return lua.LNumber(v), nil
	case int64:
		return lua.LNumber(v), nil
	case int32:
		return lua.LNumber(v), nil
	case uint64:
		return lua.LNumber(v), nil
	case uint32:
		return lua.LNumber(v), nil
	case uint:
		return lua.LNumber(v), nil
	case map[string]any:
		t := L.CreateTable(0, len(v))
		for k, x := range v {
			lv, err := goToLua(L, x)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			t.RawSetString(k, lv)
		}
		return t, nil
	case map[string]string:
		t := L.CreateTable(0, len(v))
		for k, x := range v {
			t.RawSetString(k, lua.LString(x))
		}
		return t, nil
	case []any:
		t := L.CreateTable(len(v), 0)
		for i, x := range v {
			lv, err := goToLua(L, x)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i+1, err)
			}
			t.RawSetInt(i+1, lv)
		}
		return t, nil
	case []string:
		t := L.CreateTable(len(v), 0)
		for i, x := range v {
			t.RawSetInt(i+1, lua.LString(x))
		}
		return t, nil
	default:
		return nil, fmt.Errorf("cannot pass a %T to lua", v)
	}
}

// luaResultToGo converts a value a Lua function returned: nil, string, float64,
// bool, map[string]any or []any. Functions and other values are errors.
func luaResultToGo(v lua.LValue) (any, error) {
	c := &luaToConfig{}
	c.fn = func(_ *lua.LFunction, key string) (any, bool) {
		c.fail(key, "a function cannot be returned; return a string, number, boolean or table")
		return nil, false
	}
	out, ok := c.convert(v, "")
	if ok && len(c.errs) == 0 {
		return out, nil
	}
	e := c.errs[0]
	if e.Key != "" {
		return nil, fmt.Errorf("bad return value: %s: %s", e.Key, e.Msg)
	}
	return nil, fmt.Errorf("bad return value: %s", e.Msg)
}
