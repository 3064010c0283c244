package faultnet

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// conn is a dialed connection judged from its dialer's side: both
// directions of the stream are governed here, since the accepting side
// does not know who connected.
//
//   - While dialer → remote is cut, Write waits (for a Heal, the write
//     deadline, or Close) before it sends anything. A Write already sending
//     when the cut comes completes: its bytes were on the wire.
//   - While remote → dialer is cut, Read waits likewise; bytes or an EOF the
//     socket delivers while the link is cut are kept and returned after the
//     Heal, so the stream is never corrupted.
//   - A wait that reaches its deadline returns a *net.OpError whose Timeout
//     is true and which matches os.ErrDeadlineExceeded and ErrPartitioned.
//   - With a delay on the link (Network.SetDelay), writes are handed to a
//     delay line: Write returns once the bytes are queued (up to
//     delayQueueLimit bytes, like a socket buffer) and a goroutine owned by
//     the conn sends each write a round trip later. Close discards what is
//     still queued.
//
// Concurrent Reads are serialized; Writes may be concurrent as on any
// net.Conn.
type conn struct {
	net.Conn
	node   *Node
	remote string

	mu        sync.Mutex
	closed    chan struct{} // closed by Close, under mu
	isClosed  bool
	closeErr  error
	readDL    time.Time
	writeDL   time.Time
	dlChanged chan struct{} // closed and replaced when a deadline changes
	line      *delayLine    // created by the first write that sees a delay
	wg        sync.WaitGroup

	readMu     sync.Mutex
	pending    []byte // received while remote → dialer was cut
	pendingErr error  // the socket's error received with or after pending
}

// delayQueueLimit bounds the bytes waiting in a conn's delay line.
const delayQueueLimit = 1 << 20

func newConn(c net.Conn, n *Node, remote string) *conn {
	return &conn{
		Conn:      c,
		node:      n,
		remote:    remote,
		closed:    make(chan struct{}),
		dlChanged: make(chan struct{}),
	}
}

// Read reads once remote → dialer passes, keeping any data that arrives
// over a cut link until the link is healed.
func (c *conn) Read(b []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if err := c.awaitLink(c.remote, c.node.name, "read", &c.node.stats.readsStalled); err != nil {
		return 0, err
	}
	if len(c.pending) > 0 || c.pendingErr != nil {
		return c.takePending(b)
	}
	n, err := c.Conn.Read(b)
	if n == 0 && (err == nil || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed)) {
		return n, err
	}
	if up, _ := c.node.nw.linkState(c.remote, c.node.name); up {
		return n, err
	}
	// The data (or the EOF) crossed a link cut while the read was blocked:
	// hold it back until the link is healed.
	c.pending = append([]byte(nil), b[:n]...)
	c.pendingErr = err
	if err := c.awaitLink(c.remote, c.node.name, "read", &c.node.stats.readsStalled); err != nil {
		return 0, err
	}
	return c.takePending(b)
}

// takePending returns held-back data, then the error that came with it.
func (c *conn) takePending(b []byte) (int, error) {
	n := copy(b, c.pending)
	c.pending = c.pending[n:]
	if len(c.pending) > 0 {
		return n, nil
	}
	c.pending = nil
	err := c.pendingErr
	c.pendingErr = nil
	return n, err
}

// Write writes once dialer → remote passes, through the delay line if the
// link has (or had) a delay.
func (c *conn) Write(b []byte) (int, error) {
	if err := c.awaitLink(c.node.name, c.remote, "write", &c.node.stats.writesStalled); err != nil {
		return 0, err
	}
	if l := c.delayLine(); l != nil {
		return c.enqueue(l, b)
	}
	return c.Conn.Write(b)
}

// Close closes the connection, wakes every waiting call, and stops the
// delay line's goroutine.
func (c *conn) Close() error {
	c.mu.Lock()
	if !c.isClosed {
		c.isClosed = true
		close(c.closed)
		c.closeErr = c.Conn.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
	return c.closeErr
}

// SetDeadline sets the read and write deadlines, also of waits for a link.
func (c *conn) SetDeadline(t time.Time) error {
	c.setDeadline(&t, &t)
	return c.Conn.SetDeadline(t)
}

// SetReadDeadline sets the read deadline, also of waits for a link.
func (c *conn) SetReadDeadline(t time.Time) error {
	c.setDeadline(&t, nil)
	return c.Conn.SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline, also of waits for a link.
func (c *conn) SetWriteDeadline(t time.Time) error {
	c.setDeadline(nil, &t)
	return c.Conn.SetWriteDeadline(t)
}

func (c *conn) setDeadline(read, write *time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if read != nil {
		c.readDL = *read
	}
	if write != nil {
		c.writeDL = *write
	}
	close(c.dlChanged)
	c.dlChanged = make(chan struct{})
}

// deadline returns op's deadline and a channel closed when it changes.
func (c *conn) deadline(op string) (time.Time, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if op == "read" {
		return c.readDL, c.dlChanged
	}
	return c.writeDL, c.dlChanged
}

// awaitLink waits until from → to passes, counting the call in stalled as
// soon as it has to wait.
func (c *conn) awaitLink(from, to, op string, stalled *atomic.Uint64) error {
	return c.waitFor(op, func() (bool, <-chan struct{}) {
		return c.node.nw.linkState(from, to)
	}, func() { stalled.Add(1) })
}

// waitFor waits until ready reports true, honouring op's deadline ("" for
// none) and Close; onWait (if not nil) runs once, when the call first has
// to wait. ready returns a channel closed when its answer may change. A
// deadline that passes while the wait is not over is a timeout.
func (c *conn) waitFor(op string, ready func() (bool, <-chan struct{}), onWait func()) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	waited := false
	for {
		select {
		case <-c.closed:
			return c.opError(op, net.ErrClosed)
		default:
		}
		ok, changed := ready()
		if ok {
			return nil
		}
		if !waited && onWait != nil {
			onWait()
		}
		waited = true
		var dl time.Time
		var dlChanged <-chan struct{}
		if op != "" {
			dl, dlChanged = c.deadline(op)
		}
		var expired <-chan time.Time
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				c.node.stats.stallTimeouts.Add(1)
				return c.opError(op, stallTimeout{})
			}
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			expired = timer.C
		}
		select {
		case <-changed:
		case <-dlChanged:
		case <-expired:
		case <-c.closed:
		}
	}
}

func (c *conn) opError(op string, err error) error {
	if op == "" {
		op = "write"
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// stallTimeout is the error of a wait for a cut link that reached its
// deadline: a timeout, matching os.ErrDeadlineExceeded and ErrPartitioned.
type stallTimeout struct{}

func (stallTimeout) Error() string   { return "i/o timeout (faultnet: link partitioned)" }
func (stallTimeout) Timeout() bool   { return true }
func (stallTimeout) Temporary() bool { return true }

func (stallTimeout) Is(target error) bool {
	return target == os.ErrDeadlineExceeded || target == ErrPartitioned
}
