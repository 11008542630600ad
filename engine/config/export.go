package config

import (
	"reflect"
	"sort"
	"strings"
	"time"
)

// Map renders the component as thorp.lua would spell it: keys as in the
// file, durations as Go strings ("4s"), sizes as written with the binary
// figure beside ("150MB (143.1 MiB)", see Size.Written), signals by name, Lua
// functions as "function at thorp.lua:LINE". `thorp describe` shows it.
// It is safe for concurrent use.
func (c *Component) Map() map[string]any {
	m := exportStruct(reflect.ValueOf(*c))
	m["name"] = c.Name
	for name, env := range c.EnvProfiles {
		e := make(map[string]any, len(env))
		for k, v := range env {
			e[k] = v
		}
		m["env_"+name] = e
	}
	if c.MaxMemoryRestart > 0 {
		m["max_memory_restart"] = c.MaxMemoryRestart.Written(c.MaxMemoryRestartText)
	}
	switch {
	case c.ReadyFunc != nil:
		m["ready"] = "function at " + c.ReadyFunc.Where()
	default:
		m["ready"] = c.Ready
	}
	if c.Health != nil {
		h := exportStruct(reflect.ValueOf(*c.Health))
		if c.Health.Func != nil {
			h = map[string]any{"function": c.Health.Func.Where(), "interval": c.Health.Interval.String(),
				"timeout": c.Health.Timeout.String(), "failures": c.Health.Failures}
		}
		m["health"] = h
	}
	return m
}

func exportStruct(v reflect.Value) map[string]any {
	out := map[string]any{}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		key, _, _ := strings.Cut(t.Field(i).Tag.Get("koanf"), ",") // "command,omitnested" is command
		if key == "" || key == "-" {
			continue
		}
		if x := exportValue(v.Field(i)); x != nil {
			out[key] = x
		}
	}
	return out
}

func exportValue(v reflect.Value) any {
	switch v.Type() {
	case durationType:
		return time.Duration(v.Int()).String()
	case sizeType:
		// Its text is not kept: an SI size reads as a thorp.lua spells it.
		return Size(v.Int()).Written(Size(v.Int()).SI())
	case signalType:
		return Signal(v.Int()).String()
	case commandType:
		return v.Interface().(Command).Argv
	case funcType:
		if v.IsNil() {
			return nil
		}
		return "function at " + v.Interface().(Func).Where()
	}
	switch v.Kind() {
	case reflect.Struct:
		return exportStruct(v)
	case reflect.Map:
		if v.Len() == 0 {
			return nil
		}
		m := map[string]any{}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			m[k.String()] = v.MapIndex(k).Interface()
		}
		return m
	case reflect.Slice:
		if v.Len() == 0 {
			return nil
		}
		return v.Interface()
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return exportValue(v.Elem())
	}
	return v.Interface()
}
