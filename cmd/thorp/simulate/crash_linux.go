package simulate

import (
	"fmt"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// dieBySignal restores sig's default action behind the Go runtime's back
// (the runtime turns SIGSEGV, SIGABRT and others into a stack dump and exit
// status 2) and sends it to this process. It returns only if the process
// survived, e.g. because sig's default action is to ignore it.
func dieBySignal(sig syscall.Signal) error {
	// A zeroed kernel struct sigaction is SIG_DFL, no flags, empty mask; 32
	// bytes cover every 64-bit layout. SIGKILL and SIGSTOP refuse the call,
	// which is fine: their action is always the default.
	var act [4]uint64
	const sigsetSize = 8
	_, _, _ = unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, sigsetSize, 0, 0)
	var set unix.Sigset_t
	set.Val[(int(sig)-1)/64] |= 1 << ((uint(sig) - 1) % 64)
	_ = unix.PthreadSigmask(unix.SIG_UNBLOCK, &set, nil)
	if err := unix.Kill(unix.Getpid(), sig); err != nil {
		return fmt.Errorf("kill self with %s: %w", signalName(sig), err)
	}
	// Delivery is asynchronous; give it a moment before reporting failure.
	time.Sleep(time.Second)
	return fmt.Errorf("still alive after %s", signalName(sig))
}

// signalName returns "SIGSEGV" for syscall.SIGSEGV.
func signalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	return fmt.Sprintf("signal %d", int(sig))
}
