package plugins

import (
	"bytes"
	"encoding/json"
	"fmt"

	lua "github.com/yuin/gopher-lua"
)

// jsonTable builds thorp.json: encode, decode and null, the sentinel
// that encodes as JSON null (returned too, for thorp.http's json).
func jsonTable(L *lua.LState) (*lua.LTable, lua.LValue) {
	t := L.NewTable()
	null := L.NewUserData()
	t.RawSetString("null", null)
	t.RawSetString("encode", L.NewFunction(func(L *lua.LState) int {
		L.CheckAny(1)
		b, err := encodeJSON(L.Get(1), null)
		if err != nil {
			L.RaiseError("thorp.json.encode: %v", err)
		}
		L.Push(lua.LString(b))
		return 1
	}))
	t.RawSetString("decode", L.NewFunction(func(L *lua.LState) int {
		v, err := decodeJSON(L, L.CheckString(1))
		if err != nil {
			L.RaiseError("thorp.json.decode: %v", err)
		}
		L.Push(v)
		return 1
	}))
	return t, null
}

// encodeJSON encodes a Lua value as JSON: a table with keys exactly 1..n
// is an array, one with string keys an object (keys sorted), an empty
// table {} (an object), nil and null null; functions, other userdata,
// tables mixing both kinds of keys, tables that contain themselves and
// numbers JSON cannot hold (NaN, inf) are errors naming the key. HTML
// characters are not escaped.
func encodeJSON(v, null lua.LValue) ([]byte, error) {
	c := &luaToConfig{}
	c.fn = func(_ *lua.LFunction, key string) (any, bool) {
		c.fail(key, "a function cannot be encoded as JSON")
		return nil, false
	}
	c.other = func(v lua.LValue, key string) (any, bool) {
		if v == null {
			return nil, true
		}
		c.fail(key, fmt.Sprintf("a %s cannot be encoded as JSON", v.Type()))
		return nil, false
	}
	out, ok := c.convert(v, "")
	if !ok || len(c.errs) > 0 {
		e := c.errs[0]
		if e.Key != "" {
			return nil, fmt.Errorf("%s: %s", e.Key, e.Msg)
		}
		return nil, fmt.Errorf("%s", e.Msg)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// decodeJSON decodes one JSON value into Lua: objects become tables with
// string keys, arrays tables indexed from 1, numbers numbers, null nil.
func decodeJSON(L *lua.LState, s string) (lua.LValue, error) {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, err
	}
	return goToLua(L, v)
}
