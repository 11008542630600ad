package plugins

import (
	"embed"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync"
)

// stockFS is the stock library: stock/policies/quiet_hours.lua is the
// module thorp.policies.quiet_hours.
//
//go:embed stock
var stockFS embed.FS

// stockModules returns the stock library's modules, compiled once per
// process, by module name, which is also their chunk name (errors and
// functions read "thorp.policies.quiet_hours:12"). Read-only; a module
// that does not compile is a bug in thorp (a test compiles them all).
var stockModules = sync.OnceValue(func() map[string]*includedFile {
	out := map[string]*includedFile{}
	err := fs.WalkDir(stockFS, "stock", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".lua") {
			return err
		}
		src, err := stockFS.ReadFile(path)
		if err != nil {
			return err
		}
		name := stockPrefix + strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(path, "stock/"), ".lua"), "/", ".")
		proto, err := compileChunk(src, name)
		if err != nil {
			return err
		}
		out[name] = &includedFile{chunk: name, src: src, proto: proto}
		return nil
	})
	if err != nil {
		panic("plugins: the stock library does not load: " + err.Error())
	}
	return out
})

// stockNames returns the stock library's module names, sorted.
func stockNames() []string {
	return slices.Sorted(maps.Keys(stockModules()))
}
