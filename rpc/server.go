package rpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"
	"google.golang.org/protobuf/proto"
)

// Handler serves one method: it gets the request's payload (the marshalled
// request message) and returns the response message or an error, usually
// wrapping one of the package's sentinels. ctx carries the caller's deadline
// and is canceled when the caller hangs up or the Server shuts down.
type Handler func(ctx context.Context, payload []byte) (proto.Message, error)

// ServerConfig tunes a Server. Zero fields take DefaultServerConfig's values.
type ServerConfig struct {
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// MaxMessageSize bounds each envelope read or written, in bytes.
	MaxMessageSize int
	// Yamux tunes the sessions; nil means DefaultYamuxConfig(). It is
	// copied, never modified.
	Yamux *yamux.Config
	// RequestTimeout bounds how long a new stream may take to deliver its
	// request envelope.
	RequestTimeout time.Duration
	// WriteTimeout bounds writing the response envelope.
	WriteTimeout time.Duration
	// ShutdownDrain is how long Shutdown lets the calls in flight finish
	// and be answered before it cuts them.
	ShutdownDrain time.Duration
	// Authorize, when set, is asked before each call whether its caller
	// may call method; an error is the call's answer. ctx carries the
	// caller's TLS state (PeerTLS) and relay hops (RelayHops).
	Authorize func(ctx context.Context, method string) error
}

// DefaultServerConfig returns the defaults: 8 MiB messages, 10s to read a
// request, 10s to write a response, 1s for the calls in flight at
// Shutdown, DefaultYamuxConfig.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{
		MaxMessageSize: DefaultMaxMessageSize,
		Yamux:          DefaultYamuxConfig(),
		RequestTimeout: 10 * time.Second,
		WriteTimeout:   10 * time.Second,
		ShutdownDrain:  time.Second,
	}
}

func (c ServerConfig) withDefaults() ServerConfig {
	d := DefaultServerConfig()
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = d.MaxMessageSize
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = d.RequestTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.ShutdownDrain <= 0 {
		c.ShutdownDrain = d.ShutdownDrain
	}
	c.Logger = orDiscard(c.Logger)
	return c
}

// Server dispatches the calls of yamux sessions to registered handlers.
// Each stream of a session is one call.
type Server struct {
	cfg    ServerConfig
	logger *slog.Logger
	yamux  *yamux.Config

	handlersMu sync.RWMutex
	handlers   map[string]Handler
	streams    map[string]StreamHandler

	ctx    context.Context // canceled with ErrShutdown on Shutdown
	cancel context.CancelCauseFunc

	mu       sync.Mutex
	sessions map[*yamux.Session]*coalescingConn
	closed   bool
	wg       sync.WaitGroup // session, call and watcher goroutines
	// calls counts the calls running; drained is closed when the last
	// one ends while Shutdown waits for them.
	calls   int
	drained chan struct{}
	// work hands a batched call to an idle call goroutine (runCall);
	// callWorkers counts those started.
	work        chan func()
	callWorkers atomic.Int64
}

// startCall admits a call, unless Shutdown has begun.
func (s *Server) startCall() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.calls++
	return true
}

func (s *Server) endCall() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls--
	if s.calls == 0 && s.drained != nil {
		close(s.drained)
		s.drained = nil
	}
}

// NewServer returns a Server with no methods. It starts nothing: connections
// come in through ServeConn.
func NewServer(cfg ServerConfig) *Server {
	cfg = cfg.withDefaults()
	logger := cfg.Logger.With("component", "rpc.server")
	ctx, cancel := context.WithCancelCause(context.Background())
	s := &Server{
		cfg:      cfg,
		logger:   logger,
		yamux:    yamuxConfig(cfg.Yamux, logger),
		handlers: make(map[string]Handler),
		ctx:      ctx,
		cancel:   cancel,
		sessions: make(map[*yamux.Session]*coalescingConn),
		work:     make(chan func()),
	}
	s.handlers[BatchMethod] = s.serveBatch
	return s
}

// Register installs h for method. It panics on an empty method, a nil
// handler or a method registered twice: those are wiring bugs.
func (s *Server) Register(method string, h Handler) {
	if method == "" || h == nil {
		panic("rpc: Register needs a method name and a handler")
	}
	s.handlersMu.Lock()
	defer s.handlersMu.Unlock()
	if _, dup := s.handlers[method]; dup {
		panic(fmt.Sprintf("rpc: method %q registered twice", method))
	}
	s.handlers[method] = h
}

// Handle registers a typed handler for method: the payload is unmarshalled
// into a new Req (a malformed one answers ErrBadRequest) and fn's response
// is marshalled back.
func Handle[Req any, PReq interface {
	*Req
	proto.Message
}, Resp proto.Message](s *Server, method string, fn func(context.Context, PReq) (Resp, error)) {
	s.Register(method, func(ctx context.Context, payload []byte) (proto.Message, error) {
		req := PReq(new(Req))
		if err := proto.Unmarshal(payload, req); err != nil {
			return nil, fmt.Errorf("%w: decode %s request: %v", ErrBadRequest, method, err)
		}
		resp, err := fn(ctx, req)
		if err != nil {
			return nil, err
		}
		return resp, nil
	})
}

func (s *Server) handler(method string) Handler {
	s.handlersMu.RLock()
	defer s.handlersMu.RUnlock()
	return s.handlers[method]
}

// ServeConn takes ownership of conn, whose protocol byte has been read, and
// serves it as a yamux server session in goroutines owned by s until the
// peer hangs up or Shutdown. It returns at once, so it fits Mux.HandleRPC.
func (s *Server) ServeConn(conn net.Conn) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		conn.Close()
		return
	}
	cc := newCoalescingConn(conn)
	sess, err := yamux.Server(cc, s.yamux)
	if err != nil {
		s.mu.Unlock()
		s.logger.Error("cannot start yamux session", "remote", conn.RemoteAddr().String(), "error", err)
		cc.Close()
		return
	}
	s.sessions[sess] = cc
	s.wg.Add(1)
	s.mu.Unlock()
	go s.serveSession(sess, connTLSState(conn))
}

// serveSession accepts the streams of sess until it closes; cs is the TLS
// state of its connection (nil in plaintext).
func (s *Server) serveSession(sess *yamux.Session, cs *tls.ConnectionState) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.sessions, sess)
		s.mu.Unlock()
		sess.Close()
	}()
	for {
		stream, err := sess.AcceptStream()
		if err != nil {
			if !errors.Is(err, yamux.ErrSessionShutdown) {
				s.logger.Debug("session ended", "remote", sess.RemoteAddr().String(), "error", err)
			}
			return
		}
		s.wg.Add(1)
		go s.serveStream(stream, cs)
	}
}

// Shutdown refuses new connections, closes every session, cancels the
// context of every running handler and waits for all the goroutines of the
// server, handlers included. Calls cut off this way fail on the caller with
// a transport error, so it may retry them elsewhere.
func (s *Server) Shutdown() {
	s.mu.Lock()
	s.closed = true
	var drained chan struct{}
	if s.calls > 0 {
		drained = make(chan struct{})
		s.drained = drained
	}
	s.mu.Unlock()
	// The calls in flight (a write this server forwards to the leader,
	// say) finish and are answered for up to ShutdownDrain; calls that
	// arrive meanwhile are refused as never run (serveStream), which
	// their callers may try on another server. Then the rest are cut.
	if drained != nil {
		t := time.NewTimer(s.cfg.ShutdownDrain)
		select {
		case <-drained:
		case <-t.C:
		}
		t.Stop()
	}
	s.mu.Lock()
	sessions := make([]*yamux.Session, 0, len(s.sessions))
	conns := make([]*coalescingConn, 0, len(s.sessions))
	for sess, cc := range s.sessions {
		sessions = append(sessions, sess)
		conns = append(conns, cc)
	}
	s.mu.Unlock()
	if drained != nil {
		// The drained calls' answers have left yamux; let them leave the
		// connections too (closing one drops what a write in progress
		// leaves pending).
		for _, cc := range conns {
			cc.waitFlushed(closeFlushTimeout)
		}
	}
	// Sessions first, so no answer races out: every cut call fails on its
	// caller as a transport error.
	for _, sess := range sessions {
		sess.Close()
	}
	s.cancel(ErrShutdown)
	s.wg.Wait()
}
