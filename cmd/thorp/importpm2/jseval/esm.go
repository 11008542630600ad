package jseval

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// ES module syntax an ecosystem file uses, at the start of a line.
var (
	esmRE          = regexp.MustCompile(`(?m)^[ \t]*(export[ \t]+(default|const|let|var|function|class)\b|import[ \t]*[\w{*'"$])`)
	exportDefault  = regexp.MustCompile(`(?m)^([ \t]*)export[ \t]+default\b`)
	importDefault  = regexp.MustCompile(`(?m)^([ \t]*)import[ \t]+(?:\*[ \t]*as[ \t]+)?([\w$]+)[ \t]+from[ \t]*(['"][^'"\n]+['"])`)
	importNamed    = regexp.MustCompile(`(?m)^([ \t]*)import[ \t]*\{([^}]*)\}[ \t]*from[ \t]*(['"][^'"\n]+['"])`)
	importBoth     = regexp.MustCompile(`(?m)^([ \t]*)import[ \t]+([\w$]+)[ \t]*,[ \t]*\{([^}]*)\}[ \t]*from[ \t]*(['"][^'"\n]+['"])`)
	importBare     = regexp.MustCompile(`(?m)^([ \t]*)import[ \t]*(['"][^'"\n]+['"])`)
	importAs       = regexp.MustCompile(`\b([\w$]+)[ \t]+as[ \t]+([\w$]+)`)
	importMetaURL  = regexp.MustCompile(`\bimport\.meta\.url\b`)
	importMetaFile = regexp.MustCompile(`\bimport\.meta\.(filename|dirname)\b`)
	exportNamed    = regexp.MustCompile(`(?m)^([ \t]*)export[ \t]+(const|let|var|function|class)[ \t]+([\w$]+)`)
)

// isESM reports whether the file is an ES module: a .mjs, or a file that
// uses export default or import at the start of a line.
func isESM(path, code string) bool {
	return strings.EqualFold(filepath.Ext(path), ".mjs") || esmRE.MatchString(code)
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
	var named []string
	for _, sm := range exportNamed.FindAllStringSubmatch(code, -1) {
		named = append(named, sm[3])
	}
	code = exportNamed.ReplaceAllString(code, "${1}$2 $3")
	for _, n := range named {
		code += "\n;exports." + n + " = " + n + ";"
	}
	code = exportDefault.ReplaceAllString(code, "${1}module.exports =")
	code = importBoth.ReplaceAllStringFunc(code, func(m string) string {
		sm := importBoth.FindStringSubmatch(m)
		return sm[1] + "const " + sm[2] + " = require(" + sm[4] + "), {" + importAs.ReplaceAllString(sm[3], "$1: $2") + "} = require(" + sm[4] + ")"
	})
	code = importNamed.ReplaceAllStringFunc(code, func(m string) string {
		sm := importNamed.FindStringSubmatch(m)
		return sm[1] + "const {" + importAs.ReplaceAllString(sm[2], "$1: $2") + "} = require(" + sm[3] + ")"
	})
	code = importDefault.ReplaceAllString(code, "${1}const $2 = require($3)")
	code = importBare.ReplaceAllString(code, "${1}require($2)")
	code = importMetaURL.ReplaceAllLiteralString(code, strconv.Quote(url))
	return importMetaFile.ReplaceAllString(code, "__${1}")
}
