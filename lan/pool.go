package lan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/meridian-io/meridian/internal/logging"
	"github.com/meridian-io/meridian/internal/serfpool"
)

// Lifecycle errors.
var (
	ErrNotStarted     = errors.New("lan pool not started")
	ErrAlreadyStarted = errors.New("lan pool already started")
	ErrShutdown       = errors.New("lan pool shut down")
	ErrUnknownMember  = errors.New("no such member")
)

// Pool is this agent's membership in its datacenter's LAN gossip pool.
// Its methods are safe for concurrent use.
type Pool struct {
	cfg    Config
	logger *slog.Logger
	core   *serfpool.Pool

	subs *subscribers
	ids  *idIndex
}

// New validates cfg and returns a pool that has not started: no sockets,
// no goroutines until Start.
func New(cfg Config) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	logger := cfg.Logger
	if logger == nil {
		logger = logging.Discard()
	}
	logger = logger.With("component", "lan", "node", cfg.NodeName, "dc", cfg.Datacenter)
	p := &Pool{
		cfg:    cfg,
		logger: logger,
		subs:   newSubscribers(cfg.EventBuffer),
		ids:    newIDIndex(),
	}
	pc := cfg.poolConfig()
	pc.Logger = logger
	pc.Merge = &mergeDelegate{dc: cfg.Datacenter, nodeName: cfg.NodeName, nodeID: cfg.NodeID, ids: p.ids}
	pc.OnEvent = p.onEvent
	p.core = serfpool.New(pc)
	return p, nil
}

// Start binds the gossip ports, creates the serf instance (rejoining the
// snapshot's members if there is a snapshot) and starts the event pump.
func (p *Pool) Start(ctx context.Context) error { return p.core.Start(ctx) }

// onEvent runs on the pool's event loop: it records which member holds
// which node ID and forwards the event to subscribers.
func (p *Pool) onEvent(ev Event) {
	if ev.Kind != EventUser {
		p.ids.apply(ev)
	}
	p.subs.publish(ev)
}

// Subscribe returns a channel of pool events and a function that cancels
// the subscription and closes the channel. The channel is buffered (Config
// EventBuffer); a subscriber that falls behind loses its oldest events and
// the next event it gets has Resync set. Shutdown closes every channel.
func (p *Pool) Subscribe() (<-chan Event, func()) {
	return p.subs.subscribe()
}

// Leave broadcasts that this agent is leaving and waits for the message to
// spread, so the others record it as left rather than failed. The pool
// keeps running until Shutdown.
func (p *Pool) Leave() error { return p.core.Leave() }

// Shutdown stops serf and every goroutine of the pool and closes the
// subscriber channels. Without a prior Leave the others will see this agent
// fail. It is idempotent; concurrent callers all wait for completion.
func (p *Pool) Shutdown() error {
	err := p.core.Shutdown()
	p.subs.closeAll()
	return err
}

// ForceLeave marks a failed member as left so it is no longer retried;
// prune also forgets it at once instead of keeping a tombstone.
func (p *Pool) ForceLeave(node string, prune bool) error { return p.core.ForceLeave(node, prune) }

// Members returns every member the pool knows, in any status (nil before
// Start or after Shutdown).
func (p *Pool) Members() []Member { return p.core.Members() }

// LocalMember returns this agent's member (the zero Member before Start or
// after Shutdown).
func (p *Pool) LocalMember() Member { return p.core.LocalMember() }

// Servers returns the alive server members of this datacenter with their
// RPC addresses.
func (p *Pool) Servers() []Server {
	return serversOf(p.Members(), p.cfg.Datacenter)
}

// NumMembers returns how many members the pool knows, in any status.
func (p *Pool) NumMembers() int { return p.core.NumMembers() }

// UserEvent broadcasts a user event to the pool; coalesce lets receivers
// keep only the latest event of that name.
func (p *Pool) UserEvent(name string, payload []byte, coalesce bool) error {
	s, err := p.core.Serf()
	if err != nil {
		return err
	}
	if err := s.UserEvent(name, payload, coalesce); err != nil {
		return fmt.Errorf("user event %q: %w", name, err)
	}
	return nil
}

// Stats returns serf's counters (members, failed, left, health_score,
// event_time, ...) as "info serf_lan" prints them; empty when not running.
func (p *Pool) Stats() map[string]string { return p.core.Stats() }

// Datacenter returns the pool's datacenter.
func (p *Pool) Datacenter() string { return p.cfg.Datacenter }
