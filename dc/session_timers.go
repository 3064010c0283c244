package dc

import (
	"context"
	"sync"
	"time"

	"github.com/meridian-io/meridian/internal/clock"
	"github.com/meridian-io/meridian/pb"
)

// sessionTimers expires TTL sessions while this server leads. Each timer
// fires at the session's replicated renewal time plus its TTL and proposes
// a conditional destroy, which the FSM skips if a renewal got there first.
type sessionTimers struct {
	s      *Server
	mu     sync.Mutex
	timers map[string]clock.Timer
	closed bool
	wg     sync.WaitGroup
}

func newSessionTimers(s *Server) *sessionTimers {
	return &sessionTimers{s: s, timers: map[string]clock.Timer{}}
}

// schedule arms (or re-arms) the timer of one session from its stored
// renewal.
func (t *sessionTimers) schedule(timer *pb.SessionTimer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	if old := t.timers[timer.Id]; old != nil {
		old.Stop()
	}
	expires := time.Unix(0, timer.RenewedUnixNano+timer.TtlNanos)
	id := timer.Id
	t.timers[id] = t.s.clock.AfterFunc(expires.Sub(t.s.clock.Now()), func() { t.expire(id) })
}

// expire proposes the destroy. It runs on the timer's goroutine, counted
// so stop can wait for it.
func (t *sessionTimers) expire(id string) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	delete(t.timers, id)
	t.wg.Add(1)
	t.mu.Unlock()
	defer t.wg.Done()
	ctx, cancel := context.WithTimeout(t.s.baseCtx, t.s.cfg.RPCHoldTimeout)
	defer cancel()
	cmd := &pb.Command{Cmd: &pb.Command_SessionDestroy{SessionDestroy: &pb.SessionDestroy{Id: id, OnlyIfExpired: true}}}
	res, err := t.s.raftApply(ctx, cmd)
	switch {
	case err != nil:
		t.s.log.Warn("expire session", "session", id, "error", err)
		// Try again shortly unless leadership is gone.
		if timer, _ := t.s.store.SessionTimer(id); timer != nil {
			t.mu.Lock()
			if !t.closed {
				t.timers[id] = t.s.clock.AfterFunc(time.Second, func() { t.expire(id) })
			}
			t.mu.Unlock()
		}
	case res.OK:
		t.s.log.Info("session expired", "session", id)
	default:
		// Renewed meanwhile: follow the new renewal.
		if timer, _ := t.s.store.SessionTimer(id); timer != nil {
			t.schedule(timer)
		}
	}
}

// stop disarms every timer and waits for expiries in flight.
func (t *sessionTimers) stop() {
	t.mu.Lock()
	t.closed = true
	for id, tm := range t.timers {
		tm.Stop()
		delete(t.timers, id)
	}
	t.mu.Unlock()
	t.wg.Wait()
}

// startSessionTimers arms a timer for every TTL session in the store, from
// its replicated renewal time, when this server becomes leader.
func (s *Server) startSessionTimers() *sessionTimers {
	t := newSessionTimers(s)
	timers, err := s.store.SessionTimers()
	if err != nil {
		s.log.Error("read session timers", "error", err)
	}
	for _, timer := range timers {
		t.schedule(timer)
	}
	s.sessTimers.Store(t)
	return t
}

// sessionRenewed re-arms a session's timer after a create or renew
// applied on this (leading) server.
func (s *Server) sessionRenewed(id string) {
	t := s.sessTimers.Load()
	if t == nil {
		return
	}
	if timer, err := s.store.SessionTimer(id); err == nil && timer != nil {
		t.schedule(timer)
	}
}
