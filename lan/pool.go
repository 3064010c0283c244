package lan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/hashicorp/serf/serf"

	"github.com/meridian-io/meridian/internal/logging"
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

	serfEvents chan serf.Event
	subs       *subscribers
	ids        *idIndex

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
	return &Pool{
		cfg:        cfg,
		logger:     logger,
		serfEvents: make(chan serf.Event, serfEventBuffer),
		subs:       newSubscribers(cfg.EventBuffer),
		ids:        newIDIndex(),
		stopCh:     make(chan struct{}),
	}, nil
}

// Start binds the gossip ports, creates the serf instance (rejoining the
// snapshot's members if there is a snapshot) and starts the event pump.
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
		return fmt.Errorf("start lan pool: %w", err)
	}
	p.serf, p.started = s, true
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.pump()
	}()
	lm := s.LocalMember()
	p.logger.Info("lan pool started", "addr", lm.Addr.String(), "port", lm.Port, "role", p.cfg.Role)
	return nil
}

// pump forwards serf's events to subscribers until Shutdown.
func (p *Pool) pump() {
	for {
		select {
		case e := <-p.serfEvents:
			ev, ok := fromSerfEvent(e)
			if !ok {
				continue
			}
			if ev.Kind != EventUser {
				p.ids.apply(ev)
			}
			p.subs.publish(ev)
		case <-p.stopCh:
			return
		}
	}
}

// Subscribe returns a channel of pool events and a function that cancels
// the subscription and closes the channel. The channel is buffered (Config
// EventBuffer); a subscriber that falls behind loses its oldest events and
// the next event it gets has Resync set. Shutdown closes every channel.
func (p *Pool) Subscribe() (<-chan Event, func()) {
	return p.subs.subscribe()
}

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

// Leave broadcasts that this agent is leaving and waits for the message to
// spread, so the others record it as left rather than failed. The pool
// keeps running until Shutdown.
func (p *Pool) Leave() error {
	s, err := p.running()
	if err != nil {
		return err
	}
	p.logger.Info("leaving lan pool")
	if err := s.Leave(); err != nil {
		return fmt.Errorf("leave lan pool: %w", err)
	}
	return nil
}

// Shutdown stops serf and every goroutine of the pool and closes the
// subscriber channels. Without a prior Leave the others will see this agent
// fail. It is idempotent; concurrent callers all wait for completion.
func (p *Pool) Shutdown() error {
	p.shutdownOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		s := p.serf
		p.mu.Unlock()
		if s != nil {
			if err := s.Shutdown(); err != nil {
				p.shutdownErr = fmt.Errorf("shut down lan pool: %w", err)
			}
		}
		close(p.stopCh)
		p.wg.Wait()
		p.subs.closeAll()
		if s != nil {
			p.logger.Info("lan pool shut down")
		}
	})
	return p.shutdownErr
}

// ForceLeave marks a failed member as left so it is no longer retried;
// prune also forgets it at once instead of keeping a tombstone.
func (p *Pool) ForceLeave(node string, prune bool) error {
	s, err := p.running()
	if err != nil {
		return err
	}
	found := false
	for _, m := range s.Members() {
		if strings.EqualFold(m.Name, node) {
			node, found = m.Name, true
			break
		}
	}
	if !found {
		return fmt.Errorf("force leave %q: %w", node, ErrUnknownMember)
	}
	if prune {
		err = s.RemoveFailedNodePrune(node)
	} else {
		err = s.RemoveFailedNode(node)
	}
	if err != nil {
		return fmt.Errorf("force leave %q: %w", node, err)
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

// LocalMember returns this agent's member (the zero Member before Start or
// after Shutdown).
func (p *Pool) LocalMember() Member {
	s, err := p.running()
	if err != nil {
		return Member{}
	}
	return fromSerf(s.LocalMember())
}

// Servers returns the alive server members of this datacenter with their
// RPC addresses.
func (p *Pool) Servers() []Server {
	return serversOf(p.Members(), p.cfg.Datacenter)
}

// NumMembers returns how many members the pool knows, in any status.
func (p *Pool) NumMembers() int {
	s, err := p.running()
	if err != nil {
		return 0
	}
	return s.NumNodes()
}

// UserEvent broadcasts a user event to the pool; coalesce lets receivers
// keep only the latest event of that name.
func (p *Pool) UserEvent(name string, payload []byte, coalesce bool) error {
	s, err := p.running()
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
func (p *Pool) Stats() map[string]string {
	s, err := p.running()
	if err != nil {
		return map[string]string{}
	}
	return s.Stats()
}

// Datacenter returns the pool's datacenter.
func (p *Pool) Datacenter() string { return p.cfg.Datacenter }
