package jseval

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// esmSyntax is the ES module syntax an ecosystem file uses, at the start of
// a line. It is compiled on first use: every thorp process links this
// package, and only thorp import needs it.
type esmSyntax struct {
	any, exportDefault, exportNamed, importDefault, importNamed, importBoth,
	importBare, importAs, importMetaURL, importMetaFile *regexp.Regexp
}

var esm = sync.OnceValue(func() *esmSyntax {
	return &esmSyntax{
		any:            regexp.MustCompile(`(?m)^[ \t]*(export[ \t]+(default|const|let|var|function|class)\b|import[ \t]*[\w{*'"$])`),
		exportDefault:  regexp.MustCompile(`(?m)^([ \t]*)export[ \t]+default\b`),
		exportNamed:    regexp.MustCompile(`(?m)^([ \t]*)export[ \t]+(const|let|var|function|class)[ \t]+([\w$]+)`),
		importDefault:  regexp.MustCompile(`(?m)^([ \t]*)import[ \t]+(?:\*[ \t]*as[ \t]+)?([\w$]+)[ \t]+from[ \t]*(['"][^'"\n]+['"])`),
		importNamed:    regexp.MustCompile(`(?m)^([ \t]*)import[ \t]*\{([^}]*)\}[ \t]*from[ \t]*(['"][^'"\n]+['"])`),
		importBoth:     regexp.MustCompile(`(?m)^([ \t]*)import[ \t]+([\w$]+)[ \t]*,[ \t]*\{([^}]*)\}[ \t]*from[ \t]*(['"][^'"\n]+['"])`),
		importBare:     regexp.MustCompile(`(?m)^([ \t]*)import[ \t]*(['"][^'"\n]+['"])`),
		importAs:       regexp.MustCompile(`\b([\w$]+)[ \t]+as[ \t]+([\w$]+)`),
		importMetaURL:  regexp.MustCompile(`\bimport\.meta\.url\b`),
		importMetaFile: regexp.MustCompile(`\bimport\.meta\.(filename|dirname)\b`),
	}
})

// isESM reports whether the file is an ES module: a .mjs, or a file that
// uses export default or import at the start of a line.
func isESM(path, code string) bool {
	return strings.EqualFold(filepath.Ext(path), ".mjs") || esm().any.MatchString(code)
}

// rewriteESM turns the ES module syntax ecosystem files use into CommonJS
// without moving any line: `export default X` becomes `module.exports = X`,
// `import a from "m"`, `import * as a from "m"`, `import { b as c } from
// "m"` and `import "m"` become require calls, and import.meta.url the
// file's URL; `export const apps = …` (and let, var, function, class)
// loses its export keyword and is assigned to exports after the last line,
// where an export default replaces it, as PM2 prefers the default. Anything
// else stays, and the engine reports it at its line.
func rewriteESM(code, url string) string {
	x := esm()
	var named []string
	for _, sm := range x.exportNamed.FindAllStringSubmatch(code, -1) {
		named = append(named, sm[3])
	}
	code = x.exportNamed.ReplaceAllString(code, "${1}$2 $3")
	for _, n := range named {
		code += "\n;exports." + n + " = " + n + ";"
	}
	code = x.exportDefault.ReplaceAllString(code, "${1}module.exports =")
	code = x.importBoth.ReplaceAllStringFunc(code, func(m string) string {
		sm := x.importBoth.FindStringSubmatch(m)
		return sm[1] + "const " + sm[2] + " = require(" + sm[4] + "), {" + x.importAs.ReplaceAllString(sm[3], "$1: $2") + "} = require(" + sm[4] + ")"
	})
	code = x.importNamed.ReplaceAllStringFunc(code, func(m string) string {
		sm := x.importNamed.FindStringSubmatch(m)
		return sm[1] + "const {" + x.importAs.ReplaceAllString(sm[2], "$1: $2") + "} = require(" + sm[3] + ")"
	})
	code = x.importDefault.ReplaceAllString(code, "${1}const $2 = require($3)")
	code = x.importBare.ReplaceAllString(code, "${1}require($2)")
	code = x.importMetaURL.ReplaceAllLiteralString(code, strconv.Quote(url))
	return x.importMetaFile.ReplaceAllString(code, "__${1}")
}
