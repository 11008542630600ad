package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/thorp-dev/thorp/engine/sockfile"
)

// Message is one datagram a process sent to a Listener.
type Message struct {
	// PID and UID are the sender's, as the kernel reported them
	// (SCM_CREDENTIALS); PID is 0 when no credentials came with it.
	PID int
	UID int
	// Fields are the datagram's KEY=value lines; a line without '=' is kept
	// with an empty value.
	Fields map[string]string
	// Received is when the Listener read the datagram.
	Received time.Time
}

// Ready reports whether m carries READY=1.
func (m Message) Ready() bool { return m.Fields["READY"] == "1" }

// Stopping reports whether m carries STOPPING=1.
func (m Message) Stopping() bool { return m.Fields["STOPPING"] == "1" }

// Watchdog reports whether m carries WATCHDOG=1 (a keep-alive ping).
func (m Message) Watchdog() bool { return m.Fields["WATCHDOG"] == "1" }

// Status returns m's STATUS= text and whether it had one.
func (m Message) Status() (string, bool) {
	s, ok := m.Fields["STATUS"]
	return s, ok
}

// ParseMessage splits a datagram into its KEY=value fields. Empty lines are
// skipped; a later duplicate key wins. It is safe for concurrent use.
func ParseMessage(b []byte) map[string]string {
	fields := map[string]string{}
	for line := range strings.SplitSeq(string(b), "\n") {
		if line == "" {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		fields[k] = v
	}
	return fields
}

// Listener receives sd_notify datagrams on a unixgram socket, such as the
// NOTIFY_SOCKET thorp gives a component with ready = "notify" or a
// watchdog. Create it with Listen, read Messages, and Close it. Its methods
// are safe for concurrent use; Close is safe twice.
type Listener struct {
	conn  *net.UnixConn
	path  string
	bound sockfile.Bound // the socket file Listen created
	ch    chan Message
	done  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

// maxDatagram bounds one message; systemd's own limit is a page or so.
const maxDatagram = 8192

// Listen binds a unixgram socket at path (a filesystem path, or '@name' for
// the abstract namespace), asks the kernel for senders' credentials
// (SO_PASSCRED) and starts reading. A stale socket file at path (one
// nothing answers on) is removed first; anything else there is an error
// (see engine/sockfile). buffer is the channel's capacity; when the channel is full the
// reader waits (the kernel then queues datagrams and, once its queue is
// full, blocks or fails the senders), so read Messages steadily. The socket
// file is created with the process umask; chmod it if the senders run as
// another user.
func Listen(path string, buffer int) (*Listener, error) {
	if err := sockfile.Clear(path); err != nil {
		return nil, fmt.Errorf("listen for sd_notify: %w", err)
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("listen for sd_notify on %s: %w", path, err)
	}
	bound, err := sockfile.Mark(path)
	if err == nil {
		err = setPassCred(conn)
	}
	if err != nil {
		conn.Close()
		_ = bound.Remove()
		return nil, fmt.Errorf("listen for sd_notify on %s: %w", path, err)
	}
	l := &Listener{conn: conn, path: path, bound: bound, ch: make(chan Message, buffer), done: make(chan struct{})}
	l.wg.Add(1)
	go l.read()
	return l, nil
}

func setPassCred(conn *net.UnixConn) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("set SO_PASSCRED: %w", serr)
	}
	return nil
}

// Path returns the address the Listener is bound to, as given to Listen.
func (l *Listener) Path() string { return l.path }

// Messages returns the channel on which received messages arrive, in order.
// It is closed after Close.
func (l *Listener) Messages() <-chan Message { return l.ch }

// Close stops reading, removes the socket file Listen created (unless
// something replaced it) and waits for the reader
// goroutine; then Messages is closed. It is safe to call twice.
func (l *Listener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.conn.Close()
		l.wg.Wait()
		if rerr := l.bound.Remove(); rerr != nil && err == nil {
			err = rerr
		}
	})
	return err
}

// read is the reader goroutine: one datagram at a time until the socket is
// closed.
func (l *Listener) read() {
	defer l.wg.Done()
	defer close(l.ch)
	buf := make([]byte, maxDatagram)
	// Room for credentials and for file descriptors a sender may attach
	// (FDSTORE=1), which are closed, not kept.
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred)+unix.CmsgSpace(4*64))
	for {
		n, oobn, _, _, err := l.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-l.done:
				return
			default:
			}
			// A transient error (e.g. a truncated datagram): go on reading.
			continue
		}
		m := Message{Fields: ParseMessage(buf[:n]), Received: time.Now()}
		m.PID, m.UID = credentials(oob[:oobn])
		select {
		case l.ch <- m:
		case <-l.done:
			return
		}
	}
}

// credentials extracts the sender's pid and uid from control messages and
// closes any file descriptors that came along.
func credentials(oob []byte) (pid, uid int) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, 0
	}
	for i := range msgs {
		if cred, err := unix.ParseUnixCredentials(&msgs[i]); err == nil {
			pid, uid = int(cred.Pid), int(cred.Uid)
			continue
		}
		if fds, err := unix.ParseUnixRights(&msgs[i]); err == nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
		}
	}
	return pid, uid
}
