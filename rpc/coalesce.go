package rpc

import (
	"errors"
	"net"
	"sync"
	"time"
)

// coalesceLimit bounds the bytes a coalescingConn holds unwritten; a Write
// beyond it waits for the connection to take them (backpressure).
const coalesceLimit = 1 << 20

// closeFlushTimeout bounds Close's write of what was pending: enough for
// a socket with room, short for a peer that has stopped reading.
const closeFlushTimeout = 10 * time.Millisecond

// coalescingConn lets yamux's send loop hand frames over without a system
// call each: yamux writes a frame's header and its body separately, and
// a call costs its caller three frames (open, data, close) and the server
// two, so under concurrency most of a session's time went into small
// writes. Write copies p into a pending buffer and returns; one flusher
// goroutine writes everything pending in a single call, so frames queued
// while a write was in progress leave together. A write error is sticky:
// it fails later Writes and closes the connection, which ends the yamux
// session as a raw connection's error would.
type coalescingConn struct {
	net.Conn

	mu       sync.Mutex
	cond     sync.Cond // signalled when pending is drained, an error is set or closed
	wake     chan struct{}
	pending  []byte
	spare    []byte
	err      error
	closed   bool
	writing  bool          // a write to Conn is in progress (or Close took over)
	queued   uint64        // bytes taken by Write, ever
	flushed  uint64        // bytes the connection took, ever
	done     chan struct{} // closed when the flusher has stopped
	closedCh chan struct{} // closed when Close has closed Conn
}

var errConnClosed = errors.New("rpc: connection closed")

func newCoalescingConn(c net.Conn) *coalescingConn {
	cc := &coalescingConn{Conn: c, wake: make(chan struct{}, 1),
		done: make(chan struct{}), closedCh: make(chan struct{})}
	cc.cond.L = &cc.mu
	go cc.flushLoop()
	return cc
}

// Write queues p for the flusher. It returns an earlier write's error,
// and waits while more than coalesceLimit bytes are pending.
func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	for c.err == nil && !c.closed && len(c.pending) > 0 && len(c.pending)+len(p) > coalesceLimit {
		c.cond.Wait()
	}
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return 0, err
	}
	if c.closed {
		c.mu.Unlock()
		return 0, errConnClosed
	}
	c.pending = append(c.pending, p...)
	c.queued += uint64(len(p))
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (c *coalescingConn) flushLoop() {
	defer close(c.done)
	for {
		c.mu.Lock()
		for len(c.pending) == 0 && !c.closed && c.err == nil {
			c.mu.Unlock()
			<-c.wake
			c.mu.Lock()
		}
		if c.closed || c.err != nil {
			c.mu.Unlock()
			return // Close writes what is left
		}
		batch := c.pending
		c.pending = c.spare[:0]
		c.writing = true
		c.mu.Unlock()

		n, err := c.Conn.Write(batch)

		c.mu.Lock()
		c.writing = false
		c.flushed += uint64(n)
		if cap(batch) <= coalesceLimit*2 {
			c.spare = batch[:0]
		} else {
			c.spare = nil
		}
		if err != nil && c.err == nil {
			c.err = err
		}
		c.cond.Broadcast()
		failed := c.err != nil && !c.closed
		c.mu.Unlock()
		if failed {
			_ = c.Conn.Close()
			return
		}
	}
}

// Close writes what is pending, unless a write is in progress (for at
// most closeFlushTimeout: yamux's callers spin while their session
// closes), and closes the connection, which cuts a write in progress.
// What a write in progress leaves pending is dropped, as yamux's own Close
// drops the frames its send loop has not taken. Writes waiting for room
// fail.
func (c *coalescingConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.Conn.Close()
	}
	c.closed = true
	var rest []byte
	if !c.writing && c.err == nil {
		rest, c.pending = c.pending, nil
		c.writing = true // the flusher stops without writing
	}
	c.cond.Broadcast()
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	if len(rest) > 0 {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
		n, _ := c.Conn.Write(rest)
		c.mu.Lock()
		c.flushed += uint64(n)
		c.mu.Unlock()
	}
	err := c.Conn.Close()
	close(c.closedCh)
	return err
}

// waitFlushed waits, for at most d, until the connection has taken every
// byte Write took before the call, or a write failed or Close began.
func (c *coalescingConn) waitFlushed(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	mark := c.queued
	expired := false
	t := time.AfterFunc(d, func() {
		c.mu.Lock()
		expired = true
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer t.Stop()
	for c.flushed < mark && c.err == nil && !c.closed && !expired {
		c.cond.Wait()
	}
}

// queuedBytes is how many bytes Write has taken so far.
func (c *coalescingConn) queuedBytes() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queued
}

// unsentSince reports whether no byte taken after the first mark bytes
// left the connection. It can only tell once the connection is closed
// and its flusher has stopped, which it waits for up to d; before that
// (or after d) it reports false: the bytes may yet leave.
func (c *coalescingConn) unsentSince(mark uint64, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for _, ch := range []chan struct{}{c.done, c.closedCh} {
		select {
		case <-ch:
		case <-t.C:
			return false
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed && c.flushed <= mark
}
