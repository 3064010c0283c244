package wan

import (
	"context"
	"errors"
	"log/slog"

	"github.com/hashicorp/serf/serf"

	"github.com/meridian-io/meridian/internal/logging"
	"github.com/meridian-io/meridian/internal/serfpool"
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
	core   *serfpool.Pool
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
	p := &Pool{
		cfg:    cfg,
		name:   name,
		logger: logger,
		router: NewRouter(RouterConfig{
			Datacenter:       cfg.Datacenter,
			LocalName:        name,
			FailureHoldTicks: cfg.holdTicks(),
		}),
	}
	pc := cfg.poolConfig()
	pc.Logger = logger
	pc.OnEvent = p.onEvent
	pc.Tick, pc.OnTick = cfg.RouterTick, p.onTick
	p.core = serfpool.New(pc)
	return p, nil
}

// Start binds the gossip ports, creates the serf instance (rejoining the
// snapshot's members if there is a snapshot) and starts the event loop
// that feeds the router.
func (p *Pool) Start(ctx context.Context) error { return p.core.Start(ctx) }

// onEvent runs on the pool's event loop: it feeds serf's member events to
// the router.
func (p *Pool) onEvent(e serfpool.Event) {
	ev, ok := fromPoolEvent(e)
	if !ok {
		return
	}
	if err := p.router.Observe(ev); err != nil {
		p.logger.Warn("router skipped WAN members", "event", ev.Kind.String(), "error", err)
	}
}

// onTick runs every RouterTick on the pool's event loop: it advances the
// router's clock and refreshes its coordinates.
func (p *Pool) onTick(s *serf.Serf) {
	p.router.Tick()
	p.refreshCoordinates(s)
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

// Leave broadcasts that this server is leaving the WAN pool and waits for
// the message to spread, so the others record it as left (and forget it in
// routing) rather than failed. The pool keeps running until Shutdown.
func (p *Pool) Leave() error { return p.core.Leave() }

// Shutdown stops serf and the event loop. Without a prior Leave the others
// will see this server fail. It is idempotent; concurrent callers all wait
// for completion.
func (p *Pool) Shutdown() error { return p.core.Shutdown() }

// ForceLeave marks a failed member ("node.dc", any case) as left so it is
// no longer retried; prune also forgets it at once instead of keeping a
// tombstone (Consul's -prune).
func (p *Pool) ForceLeave(name string, prune bool) error { return p.core.ForceLeave(name, prune) }

// Members returns every member the pool knows, in any status (nil before
// Start or after Shutdown).
func (p *Pool) Members() []Member { return p.core.Members() }

// LocalMember returns this server's member (the zero Member before Start or
// after Shutdown).
func (p *Pool) LocalMember() Member { return p.core.LocalMember() }

// NumMembers returns how many members the pool knows, in any status.
func (p *Pool) NumMembers() int { return p.core.NumMembers() }

// Stats returns serf's counters (members, failed, left, health_score,
// encrypted, ...) as "info serf_wan" prints them; empty when not running.
func (p *Pool) Stats() map[string]string { return p.core.Stats() }

// Name returns this server's WAN member name, "node.dc".
func (p *Pool) Name() string { return p.name }

// Datacenter returns this server's datacenter.
func (p *Pool) Datacenter() string { return p.cfg.Datacenter }
