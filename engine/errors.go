package engine

import "errors"

// The engine's errors come wrapped with what they are about (the
// component, the instance, the reason); test them with errors.Is.
var (
	// ErrUnknownComponent is returned for a name the config does not declare.
	ErrUnknownComponent = errors.New("unknown component")
	// ErrNotStarted is returned by Reload before Run has started the
	// components: try again in a moment.
	ErrNotStarted = errors.New("thorp is not running its components yet")
	// ErrShuttingDown is returned to callers whose request the component
	// could not finish because thorp is stopping (or the component was
	// removed by a reload).
	ErrShuttingDown = errors.New("thorp is shutting down")
	// ErrDidNotStart is returned to a caller waiting for an instance to
	// run when it failed instead (spawn failed, exited, never became
	// ready, was stopped, or was removed from the config meanwhile).
	ErrDidNotStart = errors.New("did not start")
	// ErrNoProcess is returned by Signal when no instance of a component
	// has a running process.
	ErrNoProcess = errors.New("no running process")
	// ErrRunning is returned by Close while Run has not returned, and by a
	// second Run.
	ErrRunning = errors.New("supervisor is running")
	// ErrBadCount is returned by Scale for an instance count out of range.
	ErrBadCount = errors.New("instance count out of range")
	// ErrClosed is returned by Run after Close.
	ErrClosed = errors.New("supervisor is closed")
)
