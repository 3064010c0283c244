package clock

import "time"

// Clock is a source of time: health's check intervals, TTLs and
// anti-entropy periods, and dc's session timers, leader duties and waits
// for a leader. Production code uses Real; tests use Fake, or Real inside
// a testing/synctest bubble.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f once, in its own goroutine or (Fake) in the
	// goroutine that advances the clock, after d has elapsed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not started yet; it reports whether
	// it did so.
	Stop() bool
}

// Real returns the Clock of package time.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// After returns a channel that receives one value when d has elapsed on c,
// and the timer to stop it with.
func After(c Clock, d time.Duration) (<-chan struct{}, Timer) {
	ch := make(chan struct{}, 1)
	t := c.AfterFunc(d, func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	})
	return ch, t
}
