package serfpool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/coordinate"
	"github.com/hashicorp/serf/serf"

	"github.com/meridian-io/meridian/internal/logging"
)

// Pool is one node's membership in a serf pool. Its methods are safe for
// concurrent use.
type Pool struct {
	cfg    Config
	logger *slog.Logger

	serfEvents chan serf.Event

	mu      sync.Mutex // guards serf, started, closed and wg.Add
	serf    *serf.Serf
	keyring *memberlist.Keyring // nil in clear; set once by Start
	started bool
	closed  bool
	wg      sync.WaitGroup

	stopCh       chan struct{} // closed by Shutdown
	shutdownOnce sync.Once
	shutdownErr  error
}

// New returns a pool that has not started: no sockets, no goroutines until
// Start. The owner has validated cfg; New copies it.
func New(cfg Config) *Pool {
	cfg.Tags = maps.Clone(cfg.Tags)
	cfg.EncryptKey = append([]byte(nil), cfg.EncryptKey...)
	cfg.StartedAttrs = append([]any(nil), cfg.StartedAttrs...)
	cfg.Errors = cfg.Errors.withDefaults(cfg.Kind)
	logger := cfg.Logger
	if logger == nil {
		logger = logging.Discard()
	}
	return &Pool{
		cfg:        cfg,
		logger:     logger,
		serfEvents: make(chan serf.Event, serfEventBuffer),
		stopCh:     make(chan struct{}),
	}
}

// Start binds the gossip ports, creates the serf instance (rejoining the
// snapshot's members if there is a snapshot) and starts the event loop.
func (p *Pool) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return p.cfg.Errors.Shutdown
	case p.started:
		return p.cfg.Errors.AlreadyStarted
	}
	sc := p.serfConfig()
	kr, err := p.loadKeyring()
	if err != nil {
		return fmt.Errorf("start %s pool: %w", p.cfg.Kind, err)
	}
	if kr != nil {
		sc.MemberlistConfig.Keyring, sc.MemberlistConfig.SecretKey = kr, nil
		sc.KeyringFile = p.cfg.KeyringFile
	}
	s, err := serf.Create(sc)
	if err != nil {
		return fmt.Errorf("start %s pool: %w", p.cfg.Kind, err)
	}
	p.serf, p.started, p.keyring = s, true, kr
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.run(s)
	}()
	lm := s.LocalMember()
	attrs := append([]any{"addr", lm.Addr.String(), "port", lm.Port}, p.cfg.StartedAttrs...)
	p.logger.Info(p.cfg.Kind+" pool started", attrs...)
	return nil
}

// run is the pool's event loop: it hands serf's events to OnEvent and
// calls OnTick every Tick, until Shutdown.
func (p *Pool) run(s *serf.Serf) {
	var tick <-chan time.Time
	if p.cfg.Tick > 0 && p.cfg.OnTick != nil {
		ticker := time.NewTicker(p.cfg.Tick)
		defer ticker.Stop()
		tick = ticker.C
	}
	for {
		select {
		case e := <-p.serfEvents:
			ev, ok := FromSerfEvent(e)
			if ok && p.cfg.OnEvent != nil {
				p.cfg.OnEvent(ev)
			}
		case <-tick:
			p.cfg.OnTick(s)
		case <-p.stopCh:
			return
		}
	}
}

// Serf returns the running serf instance, for what a kind of pool adds on
// top (user events, keyring, coordinates), or the NotStarted or Shutdown
// error.
func (p *Pool) Serf() (*serf.Serf, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return nil, p.cfg.Errors.Shutdown
	case !p.started:
		return nil, p.cfg.Errors.NotStarted
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

// Leave broadcasts that this node is leaving and waits for the message to
// spread, so the others record it as left rather than failed. The pool
// keeps running until Shutdown.
func (p *Pool) Leave() error {
	s, err := p.Serf()
	if err != nil {
		return err
	}
	p.logger.Info("leaving " + p.cfg.Kind + " pool")
	if err := s.Leave(); err != nil {
		return fmt.Errorf("leave %s pool: %w", p.cfg.Kind, err)
	}
	return nil
}

// Shutdown stops serf and every goroutine of the pool. Without a prior
// Leave the others will see this node fail. It is idempotent; concurrent
// callers all wait for completion.
func (p *Pool) Shutdown() error {
	p.shutdownOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		s := p.serf
		p.mu.Unlock()
		if s != nil {
			if err := s.Shutdown(); err != nil {
				p.shutdownErr = fmt.Errorf("shut down %s pool: %w", p.cfg.Kind, err)
			}
		}
		close(p.stopCh)
		p.wg.Wait()
		if s != nil {
			p.logger.Info(p.cfg.Kind + " pool shut down")
		}
	})
	return p.shutdownErr
}

// ForceLeave marks a failed member (any case) as left so it is no longer
// retried; prune also forgets it at once instead of keeping a tombstone.
func (p *Pool) ForceLeave(name string, prune bool) error {
	s, err := p.Serf()
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
		return fmt.Errorf("force leave %q: %w", name, p.cfg.Errors.UnknownMember)
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
	s, err := p.Serf()
	if err != nil {
		return nil
	}
	return FromSerfAll(s.Members())
}

// LocalMember returns this node's member (the zero Member before Start or
// after Shutdown).
func (p *Pool) LocalMember() Member {
	s, err := p.Serf()
	if err != nil {
		return Member{}
	}
	return FromSerf(s.LocalMember())
}

// NumMembers returns how many members the pool knows, in any status.
func (p *Pool) NumMembers() int {
	s, err := p.Serf()
	if err != nil {
		return 0
	}
	return s.NumNodes()
}

// Stats returns serf's counters (members, failed, left, health_score,
// encrypted, ...); empty when not running.
func (p *Pool) Stats() map[string]string {
	s, err := p.Serf()
	if err != nil {
		return map[string]string{}
	}
	return s.Stats()
}

// Coordinate returns the network coordinate (Vivaldi, from gossip probes)
// of the named member as this node last saw it, or this node's own for its
// own member name. It reports false when none is known yet.
func (p *Pool) Coordinate(name string) (*coordinate.Coordinate, bool) {
	s, err := p.Serf()
	if err != nil {
		return nil, false
	}
	if name == p.cfg.MemberName {
		c, err := s.GetCoordinate()
		return c, err == nil && c != nil
	}
	return s.GetCachedCoordinate(name)
}

// withDefaults fills the errors an owner left nil, so that misuse is never
// reported as success.
func (e Errors) withDefaults(kind string) Errors {
	fill := func(err *error, text string) {
		if *err == nil {
			*err = errors.New(kind + " pool " + text)
		}
	}
	fill(&e.NotStarted, "not started")
	fill(&e.AlreadyStarted, "already started")
	fill(&e.Shutdown, "shut down")
	fill(&e.UnknownMember, "has no such member")
	return e
}
