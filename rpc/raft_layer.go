package rpc

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"
)

// RaftLayer is the Raft stream layer of a Mux: Accept yields the inbound
// connections that began with ProtoRaft (the byte consumed), and Dial opens
// an outbound connection and writes ProtoRaft first. It is a
// dc.StreamLayer; dc builds Raft's network transport on it, which closes
// it when the transport closes. (rpc does not import Raft: only dc does.)
//
// Close also closes every connection the layer handed out, inbound and
// outbound. Raft waits for its RPCs in flight before it reports that it
// has shut down, and the transport's Close leaves them alone: a vote
// request to a peer that stopped answering (paused, partitioned) would
// hold a shutdown for the transport's whole timeout. Closing the
// transport right after Raft's Shutdown ends them at once.
type RaftLayer struct {
	addr    net.Addr
	dial    func(ctx context.Context, addr string) (net.Conn, error)
	tlsOut  OutgoingTLS
	connCh  chan net.Conn
	muxDone <-chan struct{}

	closeOnce sync.Once
	closed    chan struct{}

	mu    sync.Mutex
	conns map[*layerConn]struct{} // handed out and not closed yet
}

// layerConn is a connection the layer handed out; closing it forgets it.
type layerConn struct {
	net.Conn
	l    *RaftLayer
	once sync.Once
	err  error
}

func (c *layerConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		c.err = c.Conn.Close()
	})
	return c.err
}

// track remembers conn until it is closed; after Close it closes conn and
// returns nil.
func (l *RaftLayer) track(conn net.Conn) *layerConn {
	c := &layerConn{Conn: conn, l: l}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns == nil {
		conn.Close()
		return nil
	}
	l.conns[c] = struct{}{}
	return c
}

func newRaftLayer(addr net.Addr, dial func(context.Context, string) (net.Conn, error), tlsOut OutgoingTLS, muxDone <-chan struct{}) *RaftLayer {
	return &RaftLayer{
		addr:    addr,
		dial:    dial,
		tlsOut:  tlsOut,
		connCh:  make(chan net.Conn),
		muxDone: muxDone,
		closed:  make(chan struct{}),
		conns:   map[*layerConn]struct{}{},
	}
}

// handoff passes an inbound Raft connection to Accept, blocking until it is
// taken; the connection is closed if the layer or the Mux closes first.
func (l *RaftLayer) handoff(conn net.Conn) {
	select {
	case l.connCh <- conn:
	case <-l.closed:
		conn.Close()
	case <-l.muxDone:
		conn.Close()
	}
}

// Accept waits for the next inbound Raft connection. After Close it returns
// an error wrapping net.ErrClosed.
func (l *RaftLayer) Accept() (net.Conn, error) {
	select {
	case conn := <-l.connCh:
		if c := l.track(conn); c != nil {
			return c, nil
		}
	case <-l.closed:
	}
	return nil, fmt.Errorf("rpc: raft layer: %w", net.ErrClosed)
}

// Close makes Accept return and closes every connection the layer handed
// out; inbound Raft connections arriving later are closed, and Dial fails.
// It does not close the Mux's listener.
func (l *RaftLayer) Close() error {
	l.closeOnce.Do(func() {
		close(l.closed)
		l.mu.Lock()
		conns := l.conns
		l.conns = nil
		l.mu.Unlock()
		for c := range conns {
			c.Conn.Close()
		}
	})
	return nil
}

// Addr returns the advertised Raft address of this server.
func (l *RaftLayer) Addr() net.Addr { return l.addr }

// Dial connects to a server's port and selects ProtoRaft, inside TLS when
// the Mux was given an outgoing TLS configuration; the dial, handshake and
// protocol byte are bounded by timeout.
func (l *RaftLayer) Dial(address string, timeout time.Duration) (net.Conn, error) {
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	conn, err := l.dial(ctx, address)
	if err != nil {
		return nil, fmt.Errorf("rpc: raft dial %s: %w", address, err)
	}
	var cfg *tls.Config
	if l.tlsOut != nil {
		cfg = l.tlsOut("")
	}
	raw := conn
	if conn, err = dialProto(ctx, raw, cfg, ProtoRaft); err != nil {
		raw.Close()
		return nil, fmt.Errorf("rpc: raft dial %s: %w", address, err)
	}
	c := l.track(conn)
	if c == nil {
		return nil, fmt.Errorf("rpc: raft dial %s: %w", address, net.ErrClosed)
	}
	return c, nil
}

// writeProtoByte writes the protocol byte, bounded by ctx's deadline.
func writeProtoByte(ctx context.Context, conn net.Conn, proto byte) error {
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetWriteDeadline(dl)
		defer conn.SetWriteDeadline(time.Time{})
	}
	_, err := conn.Write([]byte{proto})
	return err
}
