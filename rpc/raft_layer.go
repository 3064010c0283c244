package rpc

import (
	"context"
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
type RaftLayer struct {
	addr    net.Addr
	dial    func(ctx context.Context, addr string) (net.Conn, error)
	connCh  chan net.Conn
	muxDone <-chan struct{}

	closeOnce sync.Once
	closed    chan struct{}
}

func newRaftLayer(addr net.Addr, dial func(context.Context, string) (net.Conn, error), muxDone <-chan struct{}) *RaftLayer {
	return &RaftLayer{
		addr:    addr,
		dial:    dial,
		connCh:  make(chan net.Conn),
		muxDone: muxDone,
		closed:  make(chan struct{}),
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
		return conn, nil
	case <-l.closed:
		return nil, fmt.Errorf("rpc: raft layer: %w", net.ErrClosed)
	}
}

// Close makes Accept return; inbound Raft connections arriving later are
// closed. It does not close the Mux's listener.
func (l *RaftLayer) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

// Addr returns the advertised Raft address of this server.
func (l *RaftLayer) Addr() net.Addr { return l.addr }

// Dial connects to a server's port and selects ProtoRaft; both the dial and
// the protocol byte are bounded by timeout.
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
	if err := writeProtoByte(ctx, conn, ProtoRaft); err != nil {
		conn.Close()
		return nil, fmt.Errorf("rpc: raft dial %s: %w", address, err)
	}
	return conn, nil
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
