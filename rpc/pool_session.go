package rpc

import (
	"context"
	"crypto/tls"
	"errors"
	"time"

	"github.com/hashicorp/yamux"
)

// acquire returns the live session entry for addr, dialing it if needed;
// the caller must release it. Concurrent callers share one dial.
func (p *Pool) acquire(ctx context.Context, addr string) (*poolEntry, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrShutdown
		}
		e := p.entries[addr]
		if e == nil {
			e = &poolEntry{addr: addr, ready: make(chan struct{}), active: 1}
			p.entries[addr] = e
			p.startReaperLocked()
			p.mu.Unlock()
			if err := p.dial(ctx, e); err != nil {
				p.release(e, false)
				return nil, err
			}
			return e, nil
		}
		e.active++
		p.mu.Unlock()

		select {
		case <-e.ready:
		case <-ctx.Done():
			p.release(e, false)
			return nil, ctx.Err()
		}
		switch {
		case e.err != nil:
			p.release(e, false)
			// Another caller's context ended its dial: dial with ours.
			if isContextError(e.err) && ctx.Err() == nil {
				continue
			}
			return nil, e.err
		case e.sess.IsClosed():
			p.release(e, true)
			continue
		}
		return e, nil
	}
}

func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// dial connects e's session; on failure it drops e from the pool. Waiters
// see the result once e.ready is closed.
func (p *Pool) dial(ctx context.Context, e *poolEntry) error {
	sess, cc, err := p.dialSession(ctx, e.addr)
	p.mu.Lock()
	if err == nil && p.closed {
		defer sess.Close()
		sess, cc, err = nil, nil, ErrShutdown
	}
	e.sess, e.conn, e.err = sess, cc, err
	if err != nil && p.entries[e.addr] == e {
		delete(p.entries, e.addr)
	}
	close(e.ready)
	p.mu.Unlock()
	if err != nil && !errors.Is(err, ErrShutdown) {
		p.logger.Debug("dial failed", "addr", e.addr, "error", err)
	}
	return err
}

func (p *Pool) dialSession(ctx context.Context, addr string) (*yamux.Session, *coalescingConn, error) {
	dctx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout)
	defer cancel()
	conn, err := p.cfg.Dial(dctx, addr)
	if err != nil {
		return nil, nil, err
	}
	var cfg *tls.Config
	if p.cfg.TLS != nil {
		cfg = p.cfg.TLS(datacenterOf(ctx))
	}
	raw := conn
	if conn, err = dialProto(dctx, raw, cfg, ProtoRPC); err != nil {
		raw.Close()
		return nil, nil, err
	}
	cc := newCoalescingConn(conn)
	sess, err := yamux.Client(cc, p.yamux)
	if err != nil {
		cc.Close()
		return nil, nil, err
	}
	return sess, cc, nil
}

// release ends one call's hold on e. With drop, e's session is known dead
// (or suspect) and is closed and removed so the next call dials afresh.
func (p *Pool) release(e *poolEntry, drop bool) {
	p.mu.Lock()
	e.active--
	e.lastUsed = time.Now()
	if drop && p.entries[e.addr] == e {
		delete(p.entries, e.addr)
	} else {
		drop = false
	}
	p.mu.Unlock()
	if drop && e.sess != nil {
		e.sess.Close()
	}
}

// startReaperLocked starts the idle reaper once; p.mu must be held.
func (p *Pool) startReaperLocked() {
	if p.reaping {
		return
	}
	p.reaping = true
	p.wg.Add(1)
	go p.reap()
}

// reap closes sessions idle longer than IdleTimeout, and dead ones, until
// Close.
func (p *Pool) reap() {
	defer p.wg.Done()
	interval := max(p.cfg.IdleTimeout/2, 10*time.Millisecond)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case now := <-t.C:
			p.reapIdle(now)
		}
	}
}

func (p *Pool) reapIdle(now time.Time) {
	var idle []*yamux.Session
	p.mu.Lock()
	for addr, e := range p.entries {
		if e.active > 0 || e.sess == nil {
			continue
		}
		if e.sess.IsClosed() || now.Sub(e.lastUsed) >= p.cfg.IdleTimeout {
			delete(p.entries, addr)
			idle = append(idle, e.sess)
		}
	}
	// A batch queue goes with its address's session once it is idle too
	// (no call waiting or on its way): servers come and go over months.
	for addr, b := range p.batchers {
		if _, live := p.entries[addr]; live {
			continue
		}
		b.mu.Lock()
		unused := len(b.queue) == 0 && b.inflight == 0
		b.mu.Unlock()
		if unused {
			delete(p.batchers, addr)
		}
	}
	p.mu.Unlock()
	for _, s := range idle {
		s.Close()
	}
}

// numSessions reports how many addresses have a session or a dial under
// way (for tests).
func (p *Pool) numSessions() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.entries)
}
