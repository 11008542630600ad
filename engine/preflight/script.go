package preflight

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"github.com/thorp-dev/thorp/engine/config"
)

// interpreter says how one interpreter's command line names its script:
// the first argument that is not an option, unless an option means there
// is no script file (inline code, a module, standard input).
type interpreter struct {
	// value are the options whose value is the next argument (an option
	// written "--opt=value" never takes the next one).
	value []string
	// inline are the options after which no script file is run: "-e
	// CODE", "-m MODULE", "-S ADDR" (php's server), "-" (standard input).
	inline []string
	// clustered: short options may be written together ("-ec", "-uW
	// error"); letters of value options take the rest of the word or the
	// next argument, letters of inline options end the check.
	clustered bool
	// scriptOpt is an option whose value is the script ("php -f app.php").
	scriptOpt string
	// exts are tried after the name as written: node runs "server" as
	// server.js.
	exts []string
	// searchPath: a script name without '/' is also looked up in PATH, as
	// bash does.
	searchPath bool
	// subcommands, when set, are read first: "run" and "serve" are
	// followed by the script; any other listed word runs no script file;
	// an unlisted word is the script itself ("deno main.ts").
	subcommands []string
	// fileLike: check only an argument that looks like a file (a '/' or a
	// script extension), since bun runs a package.json script by name.
	fileLike bool
}

var (
	jsExts      = []string{".js", ".mjs", ".cjs", ".json", ".node"}
	scriptExt   = regexp.MustCompile(`\.(js|mjs|cjs|jsx|ts|mts|cts|tsx)$`)
	versionedRE = regexp.MustCompile(`^(python|ruby|php)[0-9.]*$`)
)

var nodeInterp = interpreter{
	value: []string{"-r", "--require", "--import", "--loader", "--experimental-loader", "-C", "--conditions",
		"--env-file", "--env-file-if-exists", "--input-type", "--title", "--disable-warning", "--watch-path",
		"--redirect-warnings", "--openssl-config", "--icu-data-dir", "--diagnostic-dir", "--report-dir",
		"--report-directory", "--report-filename", "--inspect-port", "--debug-port"},
	inline: []string{"-e", "--eval", "-p", "--print", "-i", "--interactive", "--run", "--test", "-"},
	exts:   jsExts,
}

var shellInterp = interpreter{
	value:      []string{"-o", "+o", "-O", "+O", "--rcfile", "--init-file"},
	inline:     []string{"-c", "-s", "-"},
	clustered:  true,
	searchPath: true,
}

// interpreters maps an interpreter's base name to how it names its script;
// python3.12, ruby3.1 and php8.2 are read as python, ruby and php.
var interpreters = map[string]interpreter{
	"node":   nodeInterp,
	"nodejs": nodeInterp,
	"python": {
		value:     []string{"-W", "-X", "--check-hash-based-pycs"},
		inline:    []string{"-c", "-m", "-"},
		clustered: true,
	},
	"ruby": {
		value: []string{"-r", "-I", "-E", "--encoding", "--external-encoding", "--internal-encoding", "--enable", "--disable"},
		// -C changes directory first and -S searches PATH: the script is
		// not where this check would look.
		inline:    []string{"-e", "-S", "-C", "-"},
		clustered: true,
	},
	"php": {
		value:     []string{"-c", "-d", "-z", "-t"},
		inline:    []string{"-r", "-S", "-a", "-R", "-B", "-E", "-F"},
		scriptOpt: "-f",
	},
	"bun": {
		value:       []string{"-r", "--preload", "--env-file", "-c", "--config", "--port", "--tsconfig-override"},
		inline:      []string{"-e", "--eval", "-p", "--print", "--cwd", "-"},
		exts:        []string{".js", ".mjs", ".cjs", ".ts", ".mts", ".cts", ".jsx", ".tsx"},
		subcommands: []string{"run", "test", "x", "install", "i", "add", "a", "remove", "rm", "update", "outdated", "link", "unlink", "pm", "build", "init", "create", "c", "upgrade", "repl", "exec", "publish", "patch", "audit", "info"},
		fileLike:    true,
	},
	"deno": {
		value: []string{"-c", "--config", "--import-map", "--location", "--seed", "--cert", "-L", "--log-level",
			"--port", "--host", "--ext", "--unstable-sloppy-imports"},
		inline: []string{"-"},
		subcommands: []string{"run", "serve", "task", "test", "bench", "check", "compile", "coverage", "doc", "eval",
			"fmt", "info", "init", "install", "uninstall", "jupyter", "lint", "lsp", "publish", "repl", "upgrade",
			"vendor", "add", "remove", "outdated", "clean", "cache", "types", "completions", "x", "approve-scripts", "update"},
	},
	"bash": shellInterp,
	"sh":   shellInterp,
}

// checkScript returns "" unless comp's command runs an interpreter (by
// argv[0]'s base name, through env(1) as well, or as the first word of a
// shell command string with nothing for the shell to expand) whose script
// file is missing: "node's script server.js does not exist in /srv/app". Inline
// code, modules, URLs and package.json script names are not checked.
func checkScript(comp *config.Component, env []string) string {
	argv := comp.Command.Argv
	if comp.Command.Shell {
		argv = plainWords(argv[len(argv)-1])
	}
	if len(argv) > 0 && filepath.Base(argv[0]) == "env" {
		argv = skipEnv(argv[1:])
	}
	if len(argv) == 0 {
		return ""
	}
	name := filepath.Base(argv[0])
	key := name
	if m := versionedRE.FindStringSubmatch(name); m != nil {
		key = m[1]
	}
	in, ok := interpreters[key]
	if !ok {
		return ""
	}
	script, ok := in.script(argv[1:])
	if !ok || script == "" || strings.Contains(script, "://") || strings.HasPrefix(script, "npm:") || strings.HasPrefix(script, "jsr:") {
		return ""
	}
	if in.fileLike && !strings.Contains(script, "/") && !scriptExt.MatchString(script) {
		return ""
	}
	path := script
	if !filepath.IsAbs(path) {
		path = filepath.Join(comp.Cwd, path)
	}
	for _, p := range append([]string{path}, extended(path, in.exts)...) {
		if exists(p) {
			return ""
		}
	}
	if in.searchPath && !strings.Contains(script, "/") && inPath(script, comp, env) {
		return ""
	}
	if filepath.IsAbs(script) {
		return fmt.Sprintf("%s's script %s does not exist", name, script)
	}
	return fmt.Sprintf("%s's script %s does not exist in %s", name, script, comp.Cwd)
}

// script returns the script args names; ok is false when they name none
// to check (inline code, a module, a subcommand that runs no file).
func (in interpreter) script(args []string) (string, bool) {
	sub := in.subcommands != nil
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			if i+1 < len(args) {
				return args[i+1], true
			}
			return "", false
		case a == in.scriptOpt && a != "":
			if i+1 < len(args) {
				return args[i+1], true
			}
			return "", false
		case slices.Contains(in.inline, a):
			return "", false
		case slices.Contains(in.value, a):
			i++
		case strings.HasPrefix(a, "-") || strings.HasPrefix(a, "+") && in.clustered:
			if strings.Contains(a, "=") && strings.HasPrefix(a, "--") {
				if opt, _, _ := strings.Cut(a, "="); slices.Contains(in.inline, opt) {
					return "", false
				}
				continue
			}
			if !in.clustered || strings.HasPrefix(a, "--") || len(a) < 2 {
				if in.glued(a) {
					return "", false
				}
				continue
			}
			// A cluster of short options: "-ec", "-uWerror", "-W error".
			for j := 1; j < len(a); j++ {
				opt := a[:1] + a[j:j+1]
				if slices.Contains(in.inline, opt) {
					return "", false
				}
				if slices.Contains(in.value, opt) {
					if j == len(a)-1 {
						i++
					}
					break
				}
			}
		case sub:
			sub = false
			if a == "run" || a == "serve" {
				continue
			}
			if slices.Contains(in.subcommands, a) {
				return "", false
			}
			return a, true
		default:
			return a, true
		}
	}
	return "", false
}

// plainWords splits a shell command string into words when the shell
// would do nothing but split it ("node server.js", "exec node app.js"),
// else returns nil: quotes, variables, globs, redirections and the like
// leave the script to the shell.
func plainWords(cmd string) []string {
	if strings.ContainsAny(cmd, "$`\"'\\|&;<>()*?[]{}~#=\n") {
		return nil
	}
	words := strings.Fields(cmd)
	if len(words) > 0 && words[0] == "exec" {
		words = words[1:]
	}
	return words
}

// glued reports whether a is an inline option with its value attached
// ("-mhttp.server", "-eCODE").
func (in interpreter) glued(a string) bool {
	for _, opt := range in.inline {
		if len(opt) == 2 && opt[0] == '-' && len(a) > 2 && strings.HasPrefix(a, opt) && !strings.HasPrefix(a, "--") {
			return true
		}
	}
	return false
}

// skipEnv returns the command env(1) runs from env's arguments: options
// and NAME=VALUE assignments are skipped; an option that changes
// directory or splits a string makes the command unknown (nil).
func skipEnv(args []string) []string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-u" || a == "--unset":
			i++
		case strings.HasPrefix(a, "-C") || strings.HasPrefix(a, "-S") || strings.HasPrefix(a, "--chdir") || strings.HasPrefix(a, "--split-string"):
			return nil
		case a == "--":
			return args[i+1:]
		case strings.HasPrefix(a, "-"):
		case strings.Contains(a, "="):
		default:
			return args[i:]
		}
	}
	return nil
}

// extended returns path with each extension appended.
func extended(path string, exts []string) []string {
	out := make([]string, 0, len(exts))
	for _, e := range exts {
		out = append(out, path+e)
	}
	return out
}

// exists reports whether path exists; an error other than "does not
// exist" (a permission thorp check lacks) counts as existing, since the
// component's own user may see it.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil || !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR)
}

// inPath reports whether a file name is in a directory of the PATH comp
// runs with.
func inPath(name string, comp *config.Component, env []string) bool {
	_, dirs := searchPath(comp, env)
	for _, dir := range dirs {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}
