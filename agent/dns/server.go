package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Server answers DNS over UDP and TCP on one address.
type Server struct {
	cfg     Config
	backend Backend
	log     *slog.Logger
	// flight coalesces concurrent identical service reads.
	flight flight
	// cache is the use_cache service cache; nil when off.
	cache *serviceCache
	// now gives the SOA serial.
	now func() time.Time

	// ctx ends every lookup and recursion in flight at shutdown.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	servers []*dns.Server
	addr    string
	wg      sync.WaitGroup
}

// ErrNoBackend is returned by New without a backend.
var ErrNoBackend = errors.New("dns: no backend")

// New builds a server from a copy of cfg. It starts nothing.
func New(cfg Config, backend Backend, log *slog.Logger) (*Server, error) {
	if backend == nil {
		return nil, ErrNoBackend
	}
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, backend: backend, log: log, now: time.Now, ctx: ctx, cancel: cancel}
	if w, ok := backend.(Watcher); ok && cfg.UseCache && cfg.AllowStale {
		s.cache = newServiceCache(ctx, w, cfg.CacheMaxAge)
	}
	return s, nil
}

// ServeDNS answers one query; it is the miekg/dns Handler of both
// listeners.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	resp := s.handle(withClient(s.ctx, w.RemoteAddr()), networkOf(w.RemoteAddr()), req)
	if resp == nil {
		return
	}
	if err := w.WriteMsg(resp); err != nil {
		s.log.Debug("dns: write answer", "client", w.RemoteAddr(), "error", err)
	}
}

func (s *Server) soa(domain string) dns.RR {
	return soaRecord(domain, s.cfg.SOA, uint32(s.now().Unix()))
}

// Start listens on addr ("ip:port") over UDP and TCP and serves until
// Shutdown. With port 0 both listeners share one free port. It may be
// called again to serve more addresses; Addr stays the first.
func (s *Server) Start(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("dns: listen address %q: %w", addr, err)
	}
	pc, ln, err := listenBoth(host, port)
	if err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.addr == "" {
		s.addr = pc.LocalAddr().String() // the first address, for Addr
	}
	s.serve(&dns.Server{PacketConn: pc, Handler: s, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
	s.serve(&dns.Server{Listener: ln, Handler: s, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
		IdleTimeout: func() time.Duration { return 8 * time.Second }})
	return nil
}

// listenBoth opens the UDP socket, then TCP on the same port. With port 0
// it tries again when the TCP side of the UDP port is taken.
func listenBoth(host, port string) (pc net.PacketConn, ln net.Listener, err error) {
	for attempt := 0; attempt < 20; attempt++ {
		pc, ln, err = listenPair(host, port)
		if err == nil || port != "0" {
			break
		}
	}
	return pc, ln, err
}

func listenPair(host, port string) (net.PacketConn, net.Listener, error) {
	pc, err := net.ListenPacket("udp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, nil, err
	}
	udpPort := strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port)
	ln, err := net.Listen("tcp", net.JoinHostPort(host, udpPort))
	if err != nil {
		pc.Close()
		return nil, nil, err
	}
	return pc, ln, nil
}

// serve runs one miekg server and returns once it is serving, so that
// Shutdown can always stop it.
func (s *Server) serve(srv *dns.Server) {
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	s.servers = append(s.servers, srv)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.ActivateAndServe(); err != nil {
			s.log.Error("dns: server stopped", "error", err)
			select {
			case <-started:
			default:
				close(started)
			}
		}
	}()
	<-started
}

// Addr is the address both listeners serve on, empty before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Shutdown stops the listeners, ends lookups in flight and waits for the
// serving goroutines, giving the listeners 3 s to close their connections.
// It may be called more than once.
func (s *Server) Shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return s.ShutdownContext(ctx)
}

// ShutdownContext is Shutdown with ctx bounding the wait for the
// listeners' connections to close.
func (s *Server) ShutdownContext(ctx context.Context) error {
	s.cancel()
	s.mu.Lock()
	servers := s.servers
	s.servers = nil
	s.mu.Unlock()
	var errs []error
	for _, srv := range servers {
		if err := srv.ShutdownContext(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	s.wg.Wait()
	if s.cache != nil {
		s.cache.wait()
	}
	return errors.Join(errs...)
}

type clientKey struct{}

// withClient records the asking client's address in ctx.
func withClient(ctx context.Context, addr net.Addr) context.Context {
	return context.WithValue(ctx, clientKey{}, addr)
}

// clientIP is the IP address of the client whose question ctx answers,
// or empty.
func clientIP(ctx context.Context) string {
	switch a := ctx.Value(clientKey{}).(type) {
	case *net.UDPAddr:
		return a.IP.String()
	case *net.TCPAddr:
		return a.IP.String()
	case net.Addr:
		if host, _, err := net.SplitHostPort(a.String()); err == nil {
			return host
		}
	}
	return ""
}
