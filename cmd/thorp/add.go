package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/thorp-dev/thorp/engine/api"
	"github.com/thorp-dev/thorp/engine/config"
)

func init() {
	commands["add"] = command{summary: "write conf.d/NAME.lua for a command and start it: add NAME [flags] -- CMD ARGS...", run: cmdAdd}
	commands["remove"] = command{summary: "delete conf.d/NAME.lua that 'thorp add' wrote and stop the component", run: cmdRemove}
}

const addUsage = `add [-c FILE] NAME [--instances N|max] [--memory SIZE] [--env K=V]... [--cwd DIR] -- CMD ARGS...

Writes conf.d/NAME.lua next to thorp.lua, declaring a component that runs
CMD ARGS (an argv, no shell), then has the running thorp reload its config
(as 'thorp reload-config' does) and waits until the component runs. The
file is the truth: edit it, or 'thorp remove NAME' deletes it; nothing is
kept elsewhere. cwd is the directory add runs in unless --cwd says
otherwise. thorp.lua must load conf.d with the line
  include("conf.d/*.lua")
(thorp init writes it); without it add says so and writes nothing. add
refuses a name a component already has and a file that exists, and removes
what it wrote when the new config has errors or the running thorp refuses
it. With no thorp running it only writes the file ('thorp up' starts it).`

// envFlag collects repeated --env K=V.
type envFlag map[string]string

func (e envFlag) String() string { return "" }

// Set parses one K=V.
func (e envFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || !envNameRE.MatchString(k) {
		return fmt.Errorf("want NAME=VALUE with NAME of letters, digits and '_', like --env PORT=3000")
	}
	e[k] = val
	return nil
}

func cmdAdd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("add", addUsage, stderr)
	cfgPath := configFlag(fs)
	instances := fs.String("instances", "", "run `N` processes (1 to 1024, or max: one per CPU)")
	memory := fs.String("memory", "", "max_memory_restart: restart a process whose tree passes `SIZE` (150MB, 1.5GiB)")
	cwd := fs.String("cwd", "", "the component's working `DIR` (default: the current directory)")
	env := envFlag{}
	fs.Var(env, "env", "set an environment variable, `K=V` (repeatable)")
	flagArgs, argv, _ := cutCommand(args)
	pos, err := parseInterspersed(fs, flagArgs)
	if err != nil {
		return usageExit(err)
	}
	if len(pos) != 1 || len(argv) == 0 {
		fmt.Fprintln(stderr, "thorp add: give a name and the command after --, like thorp add web --instances 2 -- node server.js")
		return exitUsage
	}
	name := pos[0]
	if !config.ValidName(name) {
		fmt.Fprintf(stderr, "thorp add: %q is not a component name: 1-63 letters, digits, '_' or '-', starting with a letter or digit\n", termSafe(name))
		return exitUsage
	}
	spec := componentSpec{name: name, argv: argv, env: sortedEnv(env)}
	if *instances != "" {
		n, err := strconv.Atoi(*instances)
		if *instances != config.InstancesMax && (err != nil || n < 1 || n > config.MaxInstances) {
			fmt.Fprintf(stderr, "thorp add: --instances %q: give a count from 1 to %d, or max\n", termSafe(*instances), config.MaxInstances)
			return exitUsage
		}
		spec.instances = *instances
	}
	if *memory != "" {
		if _, err := config.ParseSize(*memory); err != nil {
			fmt.Fprintf(stderr, "thorp add: --memory: %s\n", termSafeErr(err))
			return exitUsage
		}
		spec.memory = *memory
	}
	dir := *cwd
	if dir == "" {
		dir = "."
	}
	if spec.cwd, err = filepath.Abs(dir); err != nil {
		fmt.Fprintf(stderr, "thorp add: --cwd: %s\n", termSafeErr(err))
		return exitUsage
	}

	text, err := os.ReadFile(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "thorp add: %s; 'thorp init' writes a starter thorp.lua\n", termSafeErr(err))
		return exitFailed
	}
	if !hasInclude(string(text)) {
		fmt.Fprintf(stderr, "thorp add: %s does not load conf.d, where add writes; add this line to it, then run thorp add again:\n\n  %s\n\nNothing was written.\n", termSafe(*cfgPath), includeLine)
		return exitFailed
	}
	cfg, problems := readConfig(*cfgPath, activeProfile(""))
	if cfg == nil {
		printProblems(stderr, problems)
		fmt.Fprintf(stderr, "thorp add: %s has errors; fix them first. Nothing was written.\n", termSafe(*cfgPath))
		return exitFailed
	}
	if c := cfg.Component(name); c != nil {
		fmt.Fprintf(stderr, "thorp add: a component %q exists already (%s); choose another name. Nothing was written.\n", name, termSafe(definedAt(cfg, c)))
		return exitFailed
	}
	conf := filepath.Join(filepath.Dir(*cfgPath), confDir)
	path := filepath.Join(conf, name+".lua")
	if err := os.Mkdir(conf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		fmt.Fprintf(stderr, "thorp add: %s\n", termSafeErr(err))
		return exitFailed
	}
	body := fmt.Sprintf("%s%s'; 'thorp remove %s' deletes this file. Edit it as you would thorp.lua.\n%s",
		addedMarker, name, name, spec.lua())
	if err := createNew(path, []byte(body)); err != nil {
		if errors.Is(err, os.ErrExist) {
			fmt.Fprintf(stderr, "thorp add: %s exists already; add never overwrites a file. Nothing was written.\n", termSafe(path))
			return exitFailed
		}
		fmt.Fprintf(stderr, "thorp add: %s\n", termSafeErr(err))
		return exitFailed
	}
	// The new file must make a valid config, or it goes again.
	cfg, problems = readConfig(*cfgPath, activeProfile(""))
	if cfg == nil || cfg.Component(name) == nil {
		printProblems(stderr, problems)
		if cfg != nil {
			fmt.Fprintf(stderr, "thorp add: %s did not declare %q: does thorp.lua's include line run?\n", termSafe(path), name)
		}
		return undoAdd(stderr, path, "the config with it has errors")
	}
	fmt.Fprintf(stdout, "wrote %s\n", termSafe(path))

	client := controlClient(cfg, *cfgPath)
	res, err := client.ReloadConfig(ctx)
	if errors.Is(err, api.ErrNotRunning) {
		fmt.Fprintf(stdout, "no thorp is running for %s; 'thorp up' starts it with %s\n", termSafe(*cfgPath), name)
		return exitOK
	}
	if err != nil && res.Error == "" {
		return undoAdd(stderr, path, "the running thorp did not reload: "+err.Error())
	}
	if !res.OK {
		printProblems(stderr, res.Errors)
		return undoAdd(stderr, path, "the running thorp refused the new config: "+res.Error)
	}
	// Wait for the outcome of the start the reload began.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	comps, err := client.Act(wctx, "start", []string{name}, true)
	if err != nil {
		fmt.Fprintf(stderr, "thorp add: %s was added but did not start: %s\n(see thorp logs %s; 'thorp remove %s' undoes the add)\n", name, termSafeErr(err), name, name)
		if all, derr := client.Components(ctx); derr == nil {
			if st, ferr := filterStatus(all, []string{name}); ferr == nil {
				printStatusTable(stdout, st)
			}
		}
		return exitFailed
	}
	fmt.Fprintf(stdout, "started %s:\n", name)
	printStatusTable(stdout, comps)
	return exitOK
}

// undoAdd removes the file add wrote (it created it) and reports why.
func undoAdd(stderr io.Writer, path, why string) int {
	if err := os.Remove(path); err != nil {
		fmt.Fprintf(stderr, "thorp add: %s; and removing %s failed: %s\n", termSafe(why), termSafe(path), termSafeErr(err))
		return exitFailed
	}
	fmt.Fprintf(stderr, "thorp add: %s; %s was removed again, nothing changed\n", termSafe(why), termSafe(path))
	return exitFailed
}

// definedAt says where c is declared, for people: FILE:LINE, in thorp.lua
// or the file it includes.
func definedAt(cfg *config.Config, c *config.Component) string {
	return fmt.Sprintf("%s:%d", config.ProblemFile(cfg.File, c.File), c.Line)
}

const removeUsage = `remove [-c FILE] NAME

Deletes conf.d/NAME.lua, the file 'thorp add NAME' wrote, then has the
running thorp reload its config, which stops the component. Only a file
whose first line is the one thorp add writes is ever deleted; a component
declared anywhere else is left alone, and remove says where it is. When the
config without the file has errors (another component depends on NAME) or
the running thorp refuses it, the file stays and nothing changes.`

func cmdRemove(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("remove", removeUsage, stderr)
	cfgPath := configFlag(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return usageExit(err)
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "thorp remove: give the name of one component that 'thorp add' added")
		return exitUsage
	}
	name := pos[0]
	if !config.ValidName(name) {
		fmt.Fprintf(stderr, "thorp remove: %q is not a component name\n", termSafe(name))
		return exitFailed
	}
	path := filepath.Join(filepath.Dir(*cfgPath), confDir, name+".lua")
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return removeNotAdded(stderr, *cfgPath, name)
	}
	if err != nil {
		fmt.Fprintf(stderr, "thorp remove: %s\n", termSafeErr(err))
		return exitFailed
	}
	if !fi.Mode().IsRegular() || !writtenByAdd(path, name) {
		fmt.Fprintf(stderr, "thorp remove: %s was not written by 'thorp add' (its first line is not thorp add's); remove only deletes files add wrote: edit or delete it yourself, then run 'thorp reload-config'\n", termSafe(path))
		return exitFailed
	}
	// Set the file aside (under a name conf.d/*.lua does not match), see
	// whether the config holds without it, and only then delete it.
	aside := filepath.Join(filepath.Dir(path), "."+name+".lua.removing")
	if err := os.Link(path, aside); err != nil {
		fmt.Fprintf(stderr, "thorp remove: setting %s aside: %s\n", termSafe(path), termSafeErr(err))
		return exitFailed
	}
	if err := os.Remove(path); err != nil {
		os.Remove(aside) // the link made above
		fmt.Fprintf(stderr, "thorp remove: %s\n", termSafeErr(err))
		return exitFailed
	}
	restore := func(why string) int {
		if err := os.Link(aside, path); err != nil {
			fmt.Fprintf(stderr, "thorp remove: %s; and putting the file back failed: %s (it is at %s)\n", termSafe(why), termSafeErr(err), termSafe(aside))
			return exitFailed
		}
		os.Remove(aside) // the link made above
		fmt.Fprintf(stderr, "thorp remove: %s; %s stays, nothing changed\n", termSafe(why), termSafe(path))
		return exitFailed
	}
	cfg, problems := readConfig(*cfgPath, activeProfile(""))
	if cfg == nil {
		printProblems(stderr, problems)
		return restore("the config without it has errors")
	}
	client := controlClient(cfg, *cfgPath)
	res, err := client.ReloadConfig(ctx)
	running := !errors.Is(err, api.ErrNotRunning)
	switch {
	case !running:
	case err != nil && res.Error == "":
		return restore("the running thorp did not reload: " + err.Error())
	case !res.OK:
		printProblems(stderr, res.Errors)
		return restore("the running thorp refused the config without it: " + res.Error)
	}
	os.Remove(aside) // the link made above
	fmt.Fprintf(stdout, "deleted %s\n", termSafe(path))
	if running {
		fmt.Fprintf(stdout, "%s stopped and removed from the running thorp\n", name)
	}
	return exitOK
}

// removeNotAdded explains why name, which has no conf.d file, is not removed.
func removeNotAdded(stderr io.Writer, cfgPath, name string) int {
	cfg, problems := readConfig(cfgPath, activeProfile(""))
	if cfg == nil {
		printProblems(stderr, problems)
		fmt.Fprintf(stderr, "thorp remove: no %s/%s.lua, and %s has errors\n", confDir, name, termSafe(cfgPath))
		return exitFailed
	}
	if c := cfg.Component(name); c != nil {
		fmt.Fprintf(stderr, "thorp remove: component %q is declared at %s, not by 'thorp add'; remove its component{} there, then run 'thorp reload-config'. Nothing changed.\n", name, termSafe(definedAt(cfg, c)))
		return exitFailed
	}
	known := "(none)"
	if len(cfg.Components) > 0 {
		names := make([]string, len(cfg.Components))
		for i, c := range cfg.Components {
			names[i] = c.Name
		}
		known = strings.Join(names, ", ")
	}
	fmt.Fprintf(stderr, "thorp remove: unknown component %q; known: %s\n", name, termSafe(known))
	return exitFailed
}

// writtenByAdd reports whether the file at path starts with the marker
// line thorp add writes for name. A link is not followed.
func writtenByAdd(path, name string) bool {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	line, err := bufio.NewReader(io.LimitReader(f, 4096)).ReadString('\n')
	return err == nil && strings.HasPrefix(line, addedMarker+name+"'")
}
