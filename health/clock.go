package health

import "time"

// Clock is the source of time for every timer of the package: check
// intervals, script timeouts, TTL expiry, deferred output syncs, the
// deregister-critical reaper and the anti-entropy periods. Production code
// uses RealClock; tests use FakeClock.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f once, in its own goroutine or (FakeClock) in the
	// goroutine that advances the clock, after d has elapsed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not started yet; it reports whether
	// it did so.
	Stop() bool
}

// RealClock returns the Clock of package time.
func RealClock() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// after returns a channel that receives one value when d has elapsed on c,
// and the timer to stop it with.
func after(c Clock, d time.Duration) (<-chan struct{}, Timer) {
	ch := make(chan struct{}, 1)
	t := c.AfterFunc(d, func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	})
	return ch, t
}
