package rpc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
)

// ErrUnresponsive says the session a call waited on stopped answering
// pings: the server stalled (a stopped process, a link that went dark
// under an open connection) without closing its end. The pool closed the
// session, which failed every call on it at once. It comes wrapped with
// ErrTransport; the request may have been sent, so a write that fails so
// has an unknown outcome.
var ErrUnresponsive = errors.New("server stopped answering pings")

// PingBounds are a call's liveness bounds (see PoolConfig.PingAfter and
// PingTimeout). After <= 0 turns the watch off.
type PingBounds struct {
	After, Timeout time.Duration
}

// pingBoundsKey carries a call's PingBounds in its context.
type pingBoundsKey struct{}

// WithPingBounds returns ctx whose calls use b instead of the pool's
// bounds: tighter ones where an answer is needed soon (a call to another
// datacenter), looser ones where a false alarm costs more than a wait.
func WithPingBounds(ctx context.Context, b PingBounds) context.Context {
	return context.WithValue(ctx, pingBoundsKey{}, b)
}

// pingBounds returns the bounds of a call made with ctx.
func (p *Pool) pingBounds(ctx context.Context) PingBounds {
	if b, ok := ctx.Value(pingBoundsKey{}).(PingBounds); ok {
		if b.After > 0 && b.Timeout <= 0 {
			b.Timeout = p.cfg.PingTimeout
		}
		return b
	}
	return PingBounds{After: p.cfg.PingAfter, Timeout: p.cfg.PingTimeout}
}

// liveness is what a session's entry knows of its peer being alive: when
// it last proved so (an answer or a pong), and the ping in flight.
type liveness struct {
	mu      sync.Mutex
	heard   time.Time // last proof of life; zero for a session never heard
	probing *probe    // ping in flight, shared by every waiting call
	dead    error     // why the pool closed the session, once it did
}

// probe is one ping of a session; done is closed once err is set.
type probe struct {
	done chan struct{}
	err  error
}

// heardNow records a proof of life.
func (l *liveness) heardNow() {
	l.mu.Lock()
	l.heard = time.Now()
	l.mu.Unlock()
}

// deadErr is why the pool closed the session, or nil.
func (l *liveness) deadErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dead
}

// watcher keeps one call honest about its session while it waits for the
// answer: from PingAfter on, the session must prove alive at least every
// PingAfter (other calls' answers count), by a ping answered within
// PingTimeout, or the pool closes it. The answer itself may take as long
// as the call's context allows (a blocking query waits minutes on a
// healthy session).
type watcher struct {
	p    *Pool
	e    *poolEntry
	b    PingBounds
	quit chan struct{}

	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
	running sync.WaitGroup // the timer's function, armed or running
}

// staleProbeAfter is how long a call waits before pinging a session that
// has not proved alive within PingAfter (new, or idle): so a call to a
// server that stalled while idle fails within staleProbeAfter +
// PingTimeout, which lets a caller try more servers in its time.
const staleProbeAfter = 100 * time.Millisecond

// watch starts watching e's session for one call with bounds b, or
// returns nil when b turns the watch off.
func (p *Pool) watch(e *poolEntry, b PingBounds) *watcher {
	if b.After <= 0 {
		return nil
	}
	w := &watcher{p: p, e: e, b: b, quit: make(chan struct{})}
	first := b.After
	e.live.mu.Lock()
	if time.Since(e.live.heard) >= b.After {
		first = min(first, staleProbeAfter)
	}
	e.live.mu.Unlock()
	w.arm(first)
	return w
}

func (w *watcher) arm(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	w.running.Add(1)
	w.timer = time.AfterFunc(d, w.fire)
}

func (w *watcher) fire() {
	defer w.running.Done()
	next, err := w.p.checkAlive(w.e, w.b, w.quit)
	if err == nil {
		w.arm(next)
	}
}

// stop ends the watch once the call returned, and waits for a check under
// way (which the call's end also cuts short).
func (w *watcher) stop() {
	if w == nil {
		return
	}
	w.mu.Lock()
	w.stopped = true
	if w.timer.Stop() {
		w.running.Done()
	}
	w.mu.Unlock()
	close(w.quit)
	w.running.Wait()
}

// errWatchEnded ends a check whose call returned meanwhile.
var errWatchEnded = errors.New("call ended")

// checkAlive returns at once (with the time until the next check) if e's
// session proved alive within the last b.After; otherwise it waits for a
// ping, starting one (bounded by b.Timeout) unless another call's is in
// flight. It fails when the ping did (the session is closed then) or quit
// is closed.
func (p *Pool) checkAlive(e *poolEntry, b PingBounds, quit <-chan struct{}) (time.Duration, error) {
	l := &e.live
	l.mu.Lock()
	if l.dead != nil {
		l.mu.Unlock()
		return 0, l.dead
	}
	if since := time.Since(l.heard); since < b.After {
		l.mu.Unlock()
		return b.After - since, nil
	}
	pr := l.probing
	if pr == nil {
		pr = &probe{done: make(chan struct{})}
		if !p.startPing(e, pr, b.Timeout) {
			l.mu.Unlock()
			return 0, ErrShutdown
		}
		l.probing = pr
	}
	l.mu.Unlock()
	select {
	case <-pr.done:
		return b.After, pr.err
	case <-quit:
		return 0, errWatchEnded
	}
}

// startPing runs ping(e, pr, timeout) on a goroutine that Close waits
// for; it reports false once the pool is closed.
func (p *Pool) startPing(e *poolEntry, pr *probe, timeout time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	go p.ping(e, pr, timeout)
	return true
}

// ping pings e's session and closes it when no pong came within timeout
// (yamux's own bound is the connection write timeout, 10 s).
func (p *Pool) ping(e *poolEntry, pr *probe, timeout time.Duration) {
	defer p.wg.Done()
	l := &e.live
	fired := make(chan struct{})
	noPong := fmt.Errorf("%w: no pong within %s", ErrUnresponsive, timeout)
	t := time.AfterFunc(timeout, func() {
		defer close(fired)
		// The reason first: the calls that the close wakes read it.
		l.mu.Lock()
		l.dead = noPong
		l.mu.Unlock()
		e.sess.Close() // wakes the Ping below
	})
	_, err := e.sess.Ping()
	unresponsive := false
	switch {
	case !t.Stop():
		<-fired
		err, unresponsive = noPong, true
	case errors.Is(err, yamux.ErrSessionShutdown):
		// Closed by its peer, the pool or a broken connection: the calls
		// on it fail with their own errors.
	case err != nil:
		err, unresponsive = fmt.Errorf("%w: ping: %w", ErrUnresponsive, err), true
	}
	l.mu.Lock()
	switch {
	case err == nil:
		l.heard = time.Now()
	case unresponsive:
		l.dead = err
	}
	pr.err = err
	l.probing = nil
	close(pr.done)
	l.mu.Unlock()
	if unresponsive {
		e.sess.Close() // fails every call on it; the next call dials afresh
		p.logger.Warn("closed a session that stopped answering", "addr", e.addr, "error", err)
	}
}
