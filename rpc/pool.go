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
}

// DefaultPoolConfig returns the defaults: TCP dialing with a 2 s timeout,
// 8 MiB messages, DefaultYamuxConfig, sessions idle for 2 minutes closed.
func DefaultPoolConfig() PoolConfig {
	return PoolConfig{
		Dial:           dialTCP,
		MaxMessageSize: DefaultMaxMessageSize,
		Yamux:          DefaultYamuxConfig(),
		IdleTimeout:    2 * time.Minute,
		DialTimeout:    2 * time.Second,
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

	mu      sync.Mutex
	entries map[string]*poolEntry
	closed  bool
	reaping bool
	done    chan struct{}
	wg      sync.WaitGroup
}

// poolEntry is the session to one address, possibly still being dialed.
type poolEntry struct {
	addr  string
	ready chan struct{} // closed once sess or err is set
	sess  *yamux.Session
	err   error

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
	payload, err := proto.Marshal(req)
	if err != nil {
		return fmt.Errorf("rpc %s: marshal request: %w", method, err)
	}
	env := &pb.RPCRequest{Method: method, Payload: payload, RelayHops: RelayHops(ctx)}
	if dl, ok := ctx.Deadline(); ok {
		env.DeadlineUnixNano = dl.UnixNano()
	}
	frame, err := marshalFrame(env, p.cfg.MaxMessageSize)
	if err != nil {
		return fmt.Errorf("rpc %s to %s: request %w", method, addr, err)
	}

	var out *pb.RPCResponse
	for attempt := 0; ; attempt++ {
		e, err := p.acquire(ctx, addr)
		if err != nil {
			return p.callError(ctx, method, addr, notSent(err))
		}
		stream, err := e.sess.OpenStream()
		if err != nil {
			p.release(e, true)
			if attempt == 0 {
				continue // nothing was sent: safe to dial afresh once
			}
			return p.callError(ctx, method, addr, notSent(err))
		}
		out, err = exchange(ctx, stream, frame, p.cfg.MaxMessageSize)
		p.release(e, err != nil && e.sess.IsClosed())
		if err != nil {
			return p.callError(ctx, method, addr, err)
		}
		break
	}
	NoteRelay(ctx, out.RelayedVia)
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
