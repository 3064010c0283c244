package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/meridian-io/meridian/pb"
	"google.golang.org/protobuf/proto"
)

// PoolConfig tunes a Pool. Zero fields take DefaultPoolConfig's values.
type PoolConfig struct {
	// Dial opens a connection to a server's port. The default is a TCP
	// net.Dialer; tests replace it to count dials or cut links.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// Logger receives the pool's logs; nil discards them.
	Logger *slog.Logger
	// MaxMessageSize bounds each envelope sent or accepted, in bytes.
	MaxMessageSize int
	// Yamux tunes the sessions; nil means DefaultYamuxConfig(). It is
	// copied, never modified.
	Yamux *yamux.Config
	// IdleTimeout is how long a session with no call in flight is kept.
	IdleTimeout time.Duration
	// DialTimeout bounds one connection attempt, so a server that is gone
	// without a word (a cut link drops the SYN) fails the call fast and
	// the caller can try another.
	DialTimeout time.Duration
	// TLS, when set, gives the configuration to dial a server of a
	// datacenter with (see WithDatacenter); a nil configuration dials in
	// plaintext. The dial timeout covers the handshake.
	TLS OutgoingTLS
	// PingAfter and PingTimeout give each call liveness without bounding
	// its answer: a call still waiting after PingAfter needs its session
	// to prove alive at least every PingAfter (an answer to any call, or a
	// ping answered within PingTimeout). A session that fails to is closed:
	// every call on it fails at once with ErrUnresponsive (wrapped with
	// ErrTransport) and the next call dials afresh. So a server that
	// stalls without closing its connection (a stopped process, a link
	// gone dark) fails a call within PingAfter+PingTimeout, while a
	// blocking query on a healthy session waits as long as it asks.
	// Negative PingAfter turns pinging off. A call's context may carry
	// its own bounds (WithPingBounds). The defaults are loose: a false
	// alarm (a loaded server slow to pong) fails the calls on a session,
	// and a write failed so has an unknown outcome.
	PingAfter   time.Duration
	PingTimeout time.Duration
}

// DefaultPoolConfig returns the defaults: TCP dialing with a 2 s timeout,
// 8 MiB messages, DefaultYamuxConfig, sessions idle for 2 minutes closed,
// a call waiting 1 s pinging its session, a ping unanswered for 5 s
// closing it.
func DefaultPoolConfig() PoolConfig {
	return PoolConfig{
		Dial:           dialTCP,
		MaxMessageSize: DefaultMaxMessageSize,
		Yamux:          DefaultYamuxConfig(),
		IdleTimeout:    2 * time.Minute,
		DialTimeout:    2 * time.Second,
		PingAfter:      time.Second,
		PingTimeout:    5 * time.Second,
	}
}

func dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

func (c PoolConfig) withDefaults() PoolConfig {
	d := DefaultPoolConfig()
	if c.Dial == nil {
		c.Dial = d.Dial
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = d.MaxMessageSize
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = d.DialTimeout
	}
	if c.PingAfter == 0 {
		c.PingAfter = d.PingAfter
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = d.PingTimeout
	}
	c.Logger = orDiscard(c.Logger)
	return c
}

// Pool calls servers over one yamux client session per address, shared by
// concurrent calls (each call is one stream). A dead session is dropped and
// dialed again on the next call; idle sessions are closed by a reaper
// goroutine that the pool starts with its first session and stops on Close.
type Pool struct {
	cfg    PoolConfig
	logger *slog.Logger
	yamux  *yamux.Config

	mu       sync.Mutex
	entries  map[string]*poolEntry
	batchers map[string]*batcher // CallBatched's queues, by address
	closed   bool
	reaping  bool
	done     chan struct{}
	wg       sync.WaitGroup
}

// poolEntry is the session to one address, possibly still being dialed.
type poolEntry struct {
	addr  string
	ready chan struct{} // closed once sess or err is set
	sess  *yamux.Session
	conn  *coalescingConn // sess's connection
	err   error
	live  liveness

	// guarded by Pool.mu
	active   int // calls holding the entry
	lastUsed time.Time
}

// NewPool returns an empty pool. It starts nothing until the first call.
func NewPool(cfg PoolConfig) *Pool {
	cfg = cfg.withDefaults()
	logger := cfg.Logger.With("component", "rpc.pool")
	return &Pool{
		cfg:     cfg,
		logger:  logger,
		yamux:   yamuxConfig(cfg.Yamux, logger),
		entries: make(map[string]*poolEntry),
		done:    make(chan struct{}),
	}
}

// Call invokes method on the server at addr with req and fills resp (which
// may be nil to ignore the answer). ctx's deadline bounds the call on both
// sides, and canceling ctx abandons it, which cancels the handler's context.
//
// Errors: the server's error as a *RemoteError (same text, errors.Is holds
// for its sentinel); context.DeadlineExceeded or context.Canceled when ctx
// ended first; ErrTooLarge when an envelope passes MaxMessageSize;
// ErrShutdown after Close; and anything wrapping ErrTransport when the
// server could not be reached or the exchange broke, the only case where
// trying another server makes sense.
func (p *Pool) Call(ctx context.Context, addr, method string, req, resp proto.Message) error {
	env, err := envelope(ctx, method, req)
	if err != nil {
		return err
	}
	out, err := p.roundTrip(ctx, addr, env)
	if err != nil {
		return err
	}
	return finishCall(ctx, method, addr, out, resp)
}

// envelope marshals req into the envelope of a call of method made with ctx.
func envelope(ctx context.Context, method string, req proto.Message) (*pb.RPCRequest, error) {
	payload, err := proto.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("rpc %s: marshal request: %w", method, err)
	}
	env := &pb.RPCRequest{Method: method, Payload: payload, RelayHops: RelayHops(ctx)}
	if dl, ok := ctx.Deadline(); ok {
		env.DeadlineUnixNano = dl.UnixNano()
	}
	return env, nil
}

// finishCall turns a response envelope into Call's result: the server's
// error, or resp filled from the payload.
func finishCall(ctx context.Context, method, addr string, out *pb.RPCResponse, resp proto.Message) error {
	NoteRelay(ctx, out.RelayedVia)
	NoteReadAfter(ctx, readAfterFromWire(out.ReadAfterNanos))
	if out.Error != nil {
		return ErrorFromWire(out.Error)
	}
	if resp != nil {
		if err := proto.Unmarshal(out.Payload, resp); err != nil {
			return fmt.Errorf("rpc %s to %s: decode response: %w", method, addr, err)
		}
	}
	return nil
}

// roundTrip sends env to addr on a stream of the pooled session and reads
// the response envelope; errors are classified as Call's.
func (p *Pool) roundTrip(ctx context.Context, addr string, env *pb.RPCRequest) (*pb.RPCResponse, error) {
	method := env.Method
	frame, err := marshalFrame(env, p.cfg.MaxMessageSize)
	if err != nil {
		return nil, fmt.Errorf("rpc %s to %s: request %w", method, addr, err)
	}

	bounds := p.pingBounds(ctx)
	for attempt := 0; ; attempt++ {
		e, err := p.acquire(ctx, addr)
		if err != nil {
			return nil, p.callError(ctx, method, addr, notSent(err))
		}
		// Opening a stream waits for its SYN to be written, which a link
		// gone dark holds until yamux's write timeout (10 s): the watch
		// covers it too.
		w := p.watch(e, bounds)
		stream, err := e.sess.OpenStream()
		if err != nil {
			w.stop()
			p.release(e, true)
			dead := e.live.deadErr()
			if attempt == 0 && dead == nil {
				continue // nothing was sent: safe to dial afresh once
			}
			if dead != nil {
				err = fmt.Errorf("%w (%w)", dead, err)
			}
			return nil, p.callError(ctx, method, addr, notSent(err))
		}
		mark := e.conn.queuedBytes()
		out, err := exchange(ctx, stream, frame, p.cfg.MaxMessageSize)
		w.stop()
		if err == nil {
			e.live.heardNow()
		} else if dead := e.live.deadErr(); dead != nil {
			err = fmt.Errorf("%w (%w)", dead, err)
		}
		// Writes leave through a buffer: when the session died with the
		// request still in it, the server never saw the request.
		if err != nil && e.sess.IsClosed() && e.conn.unsentSince(mark, 2*closeFlushTimeout) {
			err = notSent(err)
		}
		p.release(e, err != nil && e.sess.IsClosed())
		if err != nil {
			return nil, p.callError(ctx, method, addr, err)
		}
		return out, nil
	}
}

// exchange writes the request frame on stream and reads the response,
// bounded by ctx.
func exchange(ctx context.Context, stream *yamux.Stream, frame []byte, maxSize int) (*pb.RPCResponse, error) {
	defer stream.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = stream.SetDeadline(dl)
	}
	// A canceled ctx wakes the blocked read or write; Close then tells the
	// server the caller is gone.
	stop := context.AfterFunc(ctx, func() { _ = stream.SetDeadline(time.Now()) })
	defer stop()
	if _, err := stream.Write(frame); err != nil {
		return nil, err
	}
	var out pb.RPCResponse
	if err := readFrame(stream, &out, maxSize); err != nil {
		return nil, err
	}
	return &out, nil
}

// notSent marks err as a failure before the request was sent, unless it
// is a shutdown of the pool (which says so itself).
func notSent(err error) error {
	if errors.Is(err, ErrShutdown) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrNotSent, err)
}

// callError classifies a failed call: the context's own error if it ended,
// shutdown and size errors as they are, anything else as a transport error.
func (p *Pool) callError(ctx context.Context, method, addr string, err error) error {
	if cerr := contextError(ctx); cerr != nil {
		return fmt.Errorf("rpc %s to %s: %w", method, addr, cerr)
	}
	if errors.Is(err, ErrShutdown) || errors.Is(err, ErrTooLarge) || errors.Is(err, ErrTransport) {
		return fmt.Errorf("rpc %s to %s: %w", method, addr, err)
	}
	return fmt.Errorf("rpc %s to %s: %w: %w", method, addr, ErrTransport, err)
}

// contextError is ctx's error, also when its deadline has passed but its
// timer has not fired yet (the stream deadline may fire first).
func contextError(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// Close closes every session, which fails the calls in flight, stops the
// reaper and waits for it. Calls after Close return ErrShutdown.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	var sessions []*yamux.Session
	for addr, e := range p.entries {
		if e.sess != nil {
			sessions = append(sessions, e.sess)
		}
		delete(p.entries, addr)
	}
	close(p.done)
	p.mu.Unlock()
	for _, s := range sessions {
		s.Close()
	}
	p.wg.Wait()
	return nil
}
