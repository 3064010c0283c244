package gctune

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		max            int
		headroom, live uint64
		want           int
	}{
		{300, 512 * mib, 0, 300},
		{300, 512 * mib, 40 * mib, 300},  // a registry of 10,000 instances
		{300, 512 * mib, 256 * mib, 200}, // headroom / live
		{300, 512 * mib, 800 * mib, 64},  // a million keys
		{300, 512 * mib, 4096 * mib, 50}, // never below MinPercent
		{30, 512 * mib, 4096 * mib, 30},  // nor above the maximum
		{100, 512 * mib, 1024 * mib, 50}, // GOGC=100 capped too
		{100, 512 * mib, 512 * mib, 100}, // exactly at the bound
	} {
		if got := Percent(c.max, c.headroom, c.live); got != c.want {
			t.Errorf("Percent(%d, %d MiB, %d MiB) = %d, want %d", c.max, c.headroom/mib, c.live/mib, got, c.want)
		}
	}
}

// After a collection with 64 MiB live and 16 MiB of headroom allowed,
// GOGC is lowered to 50 (the floor); once the heap is freed, it returns to
// the maximum.
func TestCapHeadroomFollowsTheLiveHeap(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	stop := CapHeadroom(300, 16<<20)
	defer stop()
	gogc := func() int { p := debug.SetGCPercent(-1); debug.SetGCPercent(p); return p }
	if got := gogc(); got != 300 {
		t.Fatalf("GOGC %d at start, want 300", got)
	}
	live := make([][]byte, 64)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	waitGOGC(t, gogc, 50)
	runtime.KeepAlive(live)
	live = nil
	waitGOGC(t, gogc, 300)
}

// waitGOGC collects until GOGC is want (the adjustment runs in the
// finalizer goroutine after a collection), for at most 10 s.
func waitGOGC(t *testing.T, gogc func() int, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for gogc() != want {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC %d, want %d", gogc(), want)
		}
		runtime.GC()
		runtime.Gosched()
	}
}
