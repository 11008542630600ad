package engine

import (
	"maps"
	"strconv"
	"syscall"
	"time"

	"github.com/thorp-dev/thorp/engine/spawn"
	"github.com/thorp-dev/thorp/rotate"
)

// Spawner starts the engine's child processes: *spawn.Spawner is the real
// one; tests may pass another in Options. Spawn starts spec and calls onExit
// once with the child's status (onExit must not block); it must register
// onExit before the child can exit, and return the read ends of the child's
// output pipes unless spec is detached. Safe for concurrent use.
type Spawner interface {
	Spawn(spec spawn.Spec, onExit func(spawn.Exit)) (spawn.Process, error)
}

var _ Spawner = (*spawn.Spawner)(nil)

// exitStatus is how a process ended.
type exitStatus struct {
	pid    int
	code   int            // exit code, -1 when killed by a signal
	signal syscall.Signal // 0 when it exited normally
	time   time.Time
}

// startProcess forks the main process of instance in and starts copying its
// output to the component's logs.
func (s *Supervisor) startProcess(c *component, in *instance, p *process) (int, error) {
	cc := c.cfg
	env := cc.Env
	if c.proxied() {
		// Its own loopback port, in $PORT (port_env): the balancer in
		// front of it owns the address clients know.
		port, err := freeLoopbackPort()
		if err != nil {
			return 0, err
		}
		p.port = port
		env = maps.Clone(cc.Env)
		if env == nil {
			env = map[string]string{}
		}
		env[cc.Proxy.PortEnv] = strconv.Itoa(port)
	}
	logs, err := c.instanceLogs(in.index)
	if err != nil {
		return 0, err
	}
	ready, err := s.newReadiness(cc, in.index, p.port)
	if err != nil {
		return 0, err
	}
	p.ready = ready
	spec := spawn.Spec{
		Argv:    cc.Command.Argv,
		Dir:     cc.Cwd,
		Environ: s.environ,
		Env:     env,
		Extra:   append([]string{"THORP_INSTANCE=" + strconv.Itoa(in.index), "THORP_COMPONENT=" + cc.Name}, ready.env()...),
		User:    cc.User,
		Group:   cc.Group,
	}
	if socks := c.heldSockets(); len(socks) > 0 {
		// fds 3, 4, … in LISTEN_FDNAMES order; LISTEN_PID from the shim.
		for _, h := range socks {
			spec.Files = append(spec.Files, h.file)
		}
		spec.Extra = append(spec.Extra, socketEnv(socks)...)
		spec.Shim = s.execShim
	}
	child, err := s.spawnInto(c, in.index, p, spec, func(e spawn.Exit) {
		c.postExit(p, exitStatus{pid: e.PID, code: e.Code, signal: e.Signal, time: e.Time})
	})
	if err != nil {
		ready.close()
		return 0, err
	}
	src := func(stream string) rotate.Source {
		return rotate.Source{Component: cc.Name, Stream: stream, Instance: in.index, PID: child.PID}
	}
	s.logs.copy(child.Stdout, s.teeOutput(ready.watchOutput(child.Stdout), cc, src("out")), logs[0], src("out"), c.log)
	s.logs.copy(child.Stderr, s.teeOutput(ready.watchOutput(child.Stderr), cc, src("err")), logs[1], src("err"), c.log)
	return child.PID, nil
}
