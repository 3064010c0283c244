package clock

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Fake is a Clock that moves only when told to. Timers fire inside
// Advance, in deadline order, in the goroutine that calls Advance, with Now
// set to each timer's deadline while its function runs. It is safe for
// concurrent use and meant for tests of this and other packages.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	seq     uint64
	timers  map[uint64]*fakeTimer
	changed chan struct{} // closed and replaced whenever timers change
}

type fakeTimer struct {
	c    *Fake
	id   uint64
	when time.Time
	f    func()
}

// NewFake returns a Fake reading start.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, timers: map[uint64]*fakeTimer{}, changed: make(chan struct{})}
}

// Now returns the clock's time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f at Now()+d. A d <= 0 fires at the next Advance
// (including Advance(0)).
func (c *Fake) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{c: c, id: c.seq, when: c.now.Add(d), f: f}
	c.timers[t.id] = t
	c.notifyLocked()
	return t
}

// Stop removes the timer if it has not fired.
func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if _, ok := t.c.timers[t.id]; !ok {
		return false
	}
	delete(t.c.timers, t.id)
	t.c.notifyLocked()
	return true
}

func (c *Fake) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Advance moves the clock forward by d, firing every timer due by then,
// including timers that the fired functions schedule within the window.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		next := c.nextDueLocked(end)
		if next == nil {
			c.now = end
			c.notifyLocked()
			c.mu.Unlock()
			return
		}
		delete(c.timers, next.id)
		if next.when.After(c.now) {
			c.now = next.when
		}
		c.notifyLocked()
		c.mu.Unlock()
		next.f()
	}
}

func (c *Fake) nextDueLocked(end time.Time) *fakeTimer {
	var due []*fakeTimer
	for _, t := range c.timers {
		if !t.when.After(end) {
			due = append(due, t)
		}
	}
	if len(due) == 0 {
		return nil
	}
	sort.Slice(due, func(i, j int) bool {
		if !due[i].when.Equal(due[j].when) {
			return due[i].when.Before(due[j].when)
		}
		return due[i].id < due[j].id
	})
	return due[0]
}

// Pending returns the number of timers that have not fired or been stopped.
func (c *Fake) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// NextDeadline returns the deadline of the earliest pending timer.
func (c *Fake) NextDeadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var next time.Time
	for _, t := range c.timers {
		if next.IsZero() || t.when.Before(next) {
			next = t.when
		}
	}
	return next, !next.IsZero()
}

// BlockUntil waits until at least n timers are pending or ctx ends. Tests
// call it before Advance to know that the goroutine under test has
// scheduled its next timer.
func (c *Fake) BlockUntil(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		pending, changed := len(c.timers), c.changed
		c.mu.Unlock()
		if pending >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
