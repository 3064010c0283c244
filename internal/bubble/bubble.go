// Package bubble runs tests in testing/synctest bubbles, with two
// workarounds every bubble of this repository needs.
//
// Under the race detector, the Go runtime runs a bubble's timers with one
// race context shared by the whole bubble (runtime/time.go, unlockAndRun):
// the bubble's root goroutine fires expired timers on its thread while a
// goroutine the first of them woke, running on another thread, fires an
// expired timer channel of its own with the same context. The detector's
// per-thread state is then used by two threads at once and it crashes
// (SIGSEGV in its stack depot, or "ThreadSanitizer: CHECK failed"; Go
// issue 78156, open for Go 1.26). A dc package run crashed this way about
// once in four. With one P, no two threads run Go code at once, so Test
// lowers GOMAXPROCS to 1 while any bubble runs under the race detector.
//
// yamux (under rpc) keeps stopped timers in a package-level sync.Pool: a
// timer made in a bubble and reused outside it is a fatal "reset of
// synctest timer from outside bubble" (and one made outside and used in a
// bubble, "select on synctest channel from outside bubble"). Two garbage
// collections empty a sync.Pool (its victim cache included), so Test runs
// them before and after the bubble.
package bubble

import (
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
)

var (
	mu       sync.Mutex
	running  int // bubbles running
	restoreP int // GOMAXPROCS before the first of them lowered it
)

// Test runs fn in a synctest bubble (synctest.Test).
func Test(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	emptyPools()
	defer emptyPools()
	if raceEnabled {
		enter()
		defer leave()
	}
	synctest.Test(t, fn)
}

func emptyPools() {
	runtime.GC()
	runtime.GC()
}

func enter() {
	mu.Lock()
	defer mu.Unlock()
	if running == 0 {
		restoreP = runtime.GOMAXPROCS(1)
	}
	running++
}

func leave() {
	mu.Lock()
	defer mu.Unlock()
	running--
	if running == 0 {
		runtime.GOMAXPROCS(restoreP)
	}
}
