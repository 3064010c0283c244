package wan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/meridian-io/meridian/internal/logging"
)

// Lifecycle errors.
var (
	ErrNotStarted     = errors.New("wan pool not started")
	ErrAlreadyStarted = errors.New("wan pool already started")
	ErrShutdown       = errors.New("wan pool shut down")
	ErrUnknownMember  = errors.New("no such WAN member")
)

// Pool is this server's membership in the WAN gossip pool of every
// datacenter's servers. It owns a Router, which its event loop keeps
// current. Its methods are safe for concurrent use.
type Pool struct {
	cfg    Config
	name   string // WAN member name, node.dc
	logger *slog.Logger
	router *Router

	serfEvents chan serf.Event

	mu      sync.Mutex // guards serf, started, closed and wg.Add
	serf    *serf.Serf
	started bool
	closed  bool
	wg      sync.WaitGroup

	stopCh       chan struct{} // closed by Shutdown
	shutdownOnce sync.Once
	shutdownErr  error
}

// New validates cfg and returns a pool that has not started: no sockets,
// no goroutines until Start. Its Router exists already (knowing only the
// local datacenter).
func New(cfg Config) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	logger := cfg.Logger
	if logger == nil {
		logger = logging.Discard()
	}
	name := cfg.memberName()
	logger = logger.With("component", "wan", "node", name, "dc", cfg.Datacenter)
	return &Pool{
		cfg:    cfg,
		name:   name,
		logger: logger,
		router: NewRouter(RouterConfig{
			Datacenter:       cfg.Datacenter,
			LocalName:        name,
			FailureHoldTicks: cfg.holdTicks(),
		}),
		serfEvents: make(chan serf.Event, serfEventBuffer),
		stopCh:     make(chan struct{}),
	}, nil
}

// Start binds the gossip ports, creates the serf instance (rejoining the
// snapshot's members if there is a snapshot) and starts the event loop
// that feeds the router.
func (p *Pool) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return ErrShutdown
	case p.started:
		return ErrAlreadyStarted
	}
	s, err := serf.Create(p.serfConfig())
	if err != nil {
		return fmt.Errorf("start wan pool: %w", err)
	}
	p.serf, p.started = s, true
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.run(s)
	}()
	lm := s.LocalMember()
	p.logger.Info("wan pool started", "addr", lm.Addr.String(), "port", lm.Port)
	return nil
}

// run is the pool's event loop: it feeds serf's member events to the
// router and, every RouterTick, advances the router's clock and refreshes
// its coordinates, until Shutdown.
func (p *Pool) run(s *serf.Serf) {
	ticker := time.NewTicker(p.cfg.RouterTick)
	defer ticker.Stop()
	for {
		select {
		case e := <-p.serfEvents:
			ev, ok := fromSerfEvent(e)
			if !ok {
				continue
			}
			if err := p.router.Observe(ev); err != nil {
				p.logger.Warn("router skipped WAN members", "event", ev.Kind.String(), "error", err)
			}
		case <-ticker.C:
			p.router.Tick()
			p.refreshCoordinates(s)
		case <-p.stopCh:
			return
		}
	}
}

// refreshCoordinates hands the router this server's coordinate and the
// latest it has of every alive member.
func (p *Pool) refreshCoordinates(s *serf.Serf) {
	if c, err := s.GetCoordinate(); err == nil {
		_ = p.router.UpdateCoordinate(p.name, c) // only a bad coordinate fails
	}
	for _, m := range s.Members() {
		if m.Status != serf.StatusAlive || m.Name == p.name {
			continue
		}
		if c, ok := s.GetCachedCoordinate(m.Name); ok {
			// A member the router refused is unknown to it: nothing to do.
			_ = p.router.UpdateCoordinate(m.Name, c)
		}
	}
}

// Router returns the pool's router: datacenter name to its servers. It is
// valid from New on and keeps its last state after Shutdown.
func (p *Pool) Router() *Router { return p.router }

// running returns the serf instance, or an error before Start or after
// Shutdown.
func (p *Pool) running() (*serf.Serf, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return nil, ErrShutdown
	case !p.started:
		return nil, ErrNotStarted
	}
	return p.serf, nil
}

// goFunc runs f in a goroutine that Shutdown waits for. It reports false
// (and does not run f) once Shutdown has begun.
func (p *Pool) goFunc(f func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
	return true
}

// Leave broadcasts that this server is leaving the WAN pool and waits for
// the message to spread, so the others record it as left (and forget it in
// routing) rather than failed. The pool keeps running until Shutdown.
func (p *Pool) Leave() error {
	s, err := p.running()
	if err != nil {
		return err
	}
	p.logger.Info("leaving wan pool")
	if err := s.Leave(); err != nil {
		return fmt.Errorf("leave wan pool: %w", err)
	}
	return nil
}

// Shutdown stops serf and the event loop. Without a prior Leave the others
// will see this server fail. It is idempotent; concurrent callers all wait
// for completion.
func (p *Pool) Shutdown() error {
	p.shutdownOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		s := p.serf
		p.mu.Unlock()
		if s != nil {
			if err := s.Shutdown(); err != nil {
				p.shutdownErr = fmt.Errorf("shut down wan pool: %w", err)
			}
		}
		close(p.stopCh)
		p.wg.Wait()
		if s != nil {
			p.logger.Info("wan pool shut down")
		}
	})
	return p.shutdownErr
}

// ForceLeave marks a failed member ("node.dc", any case) as left so it is
// no longer retried; prune also forgets it at once instead of keeping a
// tombstone (Consul's -prune).
func (p *Pool) ForceLeave(name string, prune bool) error {
	s, err := p.running()
	if err != nil {
		return err
	}
	found := false
	for _, m := range s.Members() {
		if strings.EqualFold(m.Name, name) {
			name, found = m.Name, true
			break
		}
	}
	if !found {
		return fmt.Errorf("force leave %q: %w", name, ErrUnknownMember)
	}
	if prune {
		err = s.RemoveFailedNodePrune(name)
	} else {
		err = s.RemoveFailedNode(name)
	}
	if err != nil {
		return fmt.Errorf("force leave %q: %w", name, err)
	}
	return nil
}

// Members returns every member the pool knows, in any status (nil before
// Start or after Shutdown).
func (p *Pool) Members() []Member {
	s, err := p.running()
	if err != nil {
		return nil
	}
	return fromSerfAll(s.Members())
}

// LocalMember returns this server's member (the zero Member before Start or
// after Shutdown).
func (p *Pool) LocalMember() Member {
	s, err := p.running()
	if err != nil {
		return Member{}
	}
	return fromSerf(s.LocalMember())
}

// NumMembers returns how many members the pool knows, in any status.
func (p *Pool) NumMembers() int {
	s, err := p.running()
	if err != nil {
		return 0
	}
	return s.NumNodes()
}

// Stats returns serf's counters (members, failed, left, health_score,
// encrypted, ...) as "info serf_wan" prints them; empty when not running.
func (p *Pool) Stats() map[string]string {
	s, err := p.running()
	if err != nil {
		return map[string]string{}
	}
	return s.Stats()
}

// Name returns this server's WAN member name, "node.dc".
func (p *Pool) Name() string { return p.name }

// Datacenter returns this server's datacenter.
func (p *Pool) Datacenter() string { return p.cfg.Datacenter }
