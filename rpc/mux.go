package rpc

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Protocol bytes: the first byte a caller writes on a new connection to a
// server's port selects what the rest of the connection carries.
const (
	// ProtoRaft is a raw stream of hashicorp/raft's NetworkTransport.
	ProtoRaft byte = 0x01
	// ProtoRPC is a yamux session whose streams are RPC calls.
	ProtoRPC byte = 0x02
	// ProtoTLS (0x03, tls.go) wraps either in TLS; 0x04 is reserved.
)

// DefaultFirstByteTimeout bounds how long a new connection may take to send
// its protocol byte before the Mux closes it.
const DefaultFirstByteTimeout = 5 * time.Second

// MuxOption tunes a Mux.
type MuxOption func(*muxOptions)

type muxOptions struct {
	advertise        net.Addr
	firstByteTimeout time.Duration
	raftDial         func(ctx context.Context, addr string) (net.Conn, error)
	tlsIn            IncomingTLS
	tlsOut           OutgoingTLS
}

// WithAdvertiseAddr sets the address the RaftLayer reports as its own (the
// address other servers dial for Raft). The default is the listener's.
func WithAdvertiseAddr(addr net.Addr) MuxOption {
	return func(o *muxOptions) { o.advertise = addr }
}

// WithFirstByteTimeout sets how long a new connection may stay silent before
// its protocol byte (default DefaultFirstByteTimeout).
func WithFirstByteTimeout(d time.Duration) MuxOption {
	return func(o *muxOptions) { o.firstByteTimeout = d }
}

// WithRaftDial replaces the TCP dialer of RaftLayer.Dial, the seam through
// which tests cut Raft links.
func WithRaftDial(dial func(ctx context.Context, addr string) (net.Conn, error)) MuxOption {
	return func(o *muxOptions) { o.raftDial = dial }
}

// Mux accepts the connections of one listener and routes each by its first
// byte: ProtoRaft to the RaftLayer, ProtoRPC to the function given to
// HandleRPC, ProtoTLS to a TLS handshake and then by the byte inside it;
// any other byte closes the connection. With a TLS policy (WithTLS),
// plaintext is refused when it requires TLS, and a Raft connection is
// accepted only from a peer it authorizes as a server of this datacenter.
type Mux struct {
	ln               net.Listener
	logger           *slog.Logger
	firstByteTimeout time.Duration
	raft             *RaftLayer
	tls              IncomingTLS

	mu      sync.Mutex
	rpc     func(net.Conn)
	pending map[net.Conn]struct{} // connections whose first byte is awaited
	closed  bool
	done    chan struct{}
	wg      sync.WaitGroup
}

// NewMux returns a Mux over ln. It starts nothing; call HandleRPC, then run
// Serve.
func NewMux(ln net.Listener, logger *slog.Logger, opts ...MuxOption) *Mux {
	o := muxOptions{firstByteTimeout: DefaultFirstByteTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	if o.advertise == nil {
		o.advertise = ln.Addr()
	}
	if o.firstByteTimeout <= 0 {
		o.firstByteTimeout = DefaultFirstByteTimeout
	}
	if o.raftDial == nil {
		var d net.Dialer
		o.raftDial = func(ctx context.Context, addr string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		}
	}
	m := &Mux{
		ln:               ln,
		logger:           orDiscard(logger).With("component", "rpc.mux"),
		firstByteTimeout: o.firstByteTimeout,
		pending:          make(map[net.Conn]struct{}),
		done:             make(chan struct{}),
		tls:              o.tlsIn,
	}
	m.raft = newRaftLayer(o.advertise, o.raftDial, o.tlsOut, m.done)
	return m
}

// RaftLayer returns the stream layer to hand to raft.NewNetworkTransport.
func (m *Mux) RaftLayer() *RaftLayer { return m.raft }

// HandleRPC sets the function that takes each ProtoRPC connection, protocol
// byte consumed, usually (*Server).ServeConn. fn owns the connection and
// should return promptly: Close waits for it. Without a handler, ProtoRPC
// connections are closed.
func (m *Mux) HandleRPC(fn func(net.Conn)) {
	m.mu.Lock()
	m.rpc = fn
	m.mu.Unlock()
}

// Addr returns the listener's address.
func (m *Mux) Addr() net.Addr { return m.ln.Addr() }

// Serve accepts connections until Close, then returns nil. Accept errors
// are retried with backoff, except a listener closed by someone else, which
// Serve returns.
func (m *Mux) Serve() error {
	var delay time.Duration
	for {
		conn, err := m.ln.Accept()
		if err != nil {
			if m.isClosed() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			delay = backoff(delay)
			m.logger.Warn("accept failed", "error", err, "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-m.done:
				t.Stop()
				return nil
			case <-t.C:
			}
			continue
		}
		delay = 0
		if !m.track(conn) {
			conn.Close()
			return nil
		}
		go m.route(conn)
	}
}

func backoff(d time.Duration) time.Duration {
	if d == 0 {
		return 5 * time.Millisecond
	}
	return min(2*d, time.Second)
}

// track registers conn as awaiting its first byte; false once closed.
func (m *Mux) track(conn net.Conn) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.pending[conn] = struct{}{}
	m.wg.Add(1)
	return true
}

func (m *Mux) untrack(conn net.Conn) {
	m.mu.Lock()
	delete(m.pending, conn)
	m.mu.Unlock()
}

// route reads the protocol byte of conn (and, for ProtoTLS, runs the
// handshake and reads the byte inside) and hands conn on.
func (m *Mux) route(conn net.Conn) {
	defer m.wg.Done()
	var b [1]byte
	deadline := time.Now().Add(m.firstByteTimeout)
	_ = conn.SetReadDeadline(deadline)
	_, err := conn.Read(b[:])
	_ = conn.SetReadDeadline(time.Time{})
	remote := conn.RemoteAddr().String()
	if err != nil {
		m.untrack(conn)
		if !m.isClosed() {
			m.logger.Debug("connection closed before its protocol byte", "remote", remote, "error", err)
		}
		conn.Close()
		return
	}
	proto := b[0]
	var cs *tls.ConnectionState
	switch {
	case proto == ProtoTLS:
		if m.tls == nil || !m.tls.RPCEnabled() {
			m.untrack(conn)
			m.logger.Warn("tls connection refused: TLS is not configured on this port", "remote", remote)
			conn.Close()
			return
		}
		// The handshake stays bounded by the first-byte timeout, and
		// Close still reaches the connection while it runs.
		tc, inner, err := serverHandshake(conn, m.tls.IncomingRPCConfig(), deadline)
		m.untrack(conn)
		if err != nil {
			if !m.isClosed() {
				m.logger.Warn("tls connection refused", "remote", remote, "error", err)
			}
			conn.Close()
			return
		}
		conn, proto, cs = tc, inner, connTLSState(tc)
		if proto == ProtoTLS {
			m.logger.Warn("tls connection refused: TLS inside TLS", "remote", remote)
			conn.Close()
			return
		}
	default:
		m.untrack(conn)
		if (proto == ProtoRaft || proto == ProtoRPC) && m.tls != nil && m.tls.RequireTLSRPC() {
			m.logger.Warn("plaintext connection refused: verify_incoming requires TLS", "remote", remote)
			conn.Close()
			return
		}
	}
	switch proto {
	case ProtoRaft:
		if m.tls != nil {
			if err := m.tls.AuthorizeServer(cs, false); err != nil {
				m.logger.Warn("raft connection refused", "remote", remote, "error", err)
				conn.Close()
				return
			}
		}
		m.raft.handoff(conn)
	case ProtoRPC:
		m.mu.Lock()
		fn := m.rpc
		m.mu.Unlock()
		if fn == nil {
			m.logger.Warn("rpc connection refused: no rpc handler", "remote", remote)
			conn.Close()
			return
		}
		fn(conn)
	default:
		m.logger.Warn("unknown protocol byte, closing connection", "remote", remote, "byte", proto)
		conn.Close()
	}
}

func (m *Mux) isClosed() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// Close stops Serve, closes the listener and the connections still awaiting
// their protocol byte, and waits for the routing goroutines. Connections
// already handed on belong to the RaftLayer's user and to the RPC handler.
// The RaftLayer itself is closed by its user (raft's NetworkTransport).
func (m *Mux) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	close(m.done)
	err := m.ln.Close()
	for c := range m.pending {
		c.Close()
	}
	m.mu.Unlock()
	m.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
