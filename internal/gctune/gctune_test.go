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

// The tuner's decisions over a scripted run: busy while the allocation
// rate is at BusyRate or more (the busy headroom), quiet below it (the
// quiet headroom), memory returned when a busy spell ends but not twice
// within FreeEvery, GOGC set only when it changes and followed after
// collections.
func TestTunerFollowsRateAndLiveHeap(t *testing.T) {
	const mib = 1 << 20
	tu := newTuner(Config{MaxPercent: 300, BusyHeadroom: 512 * mib, IdleHeadroom: 32 * mib, BusyRate: 16 * mib, FreeEvery: 10 * time.Second})
	var allocs, live uint64 = 0, 40 * mib
	var sets []int
	frees := 0
	tu.read = func() (uint64, uint64) { return allocs, live }
	tu.setPercent = func(p int) { sets = append(sets, p) }
	tu.free = func() { frees++ }
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	step := func(when float64, allocated uint64, wantSets []int, wantFrees int) {
		t.Helper()
		allocs += allocated
		sets = nil
		tu.tick(at(when))
		if len(sets) != len(wantSets) || (len(sets) > 0 && sets[0] != wantSets[0]) || frees != wantFrees {
			t.Fatalf("at %.1f s (+%d MiB): GOGC set %v, want %v; %d returns of memory, want %d", when, allocated/mib, sets, wantSets, frees, wantFrees)
		}
	}
	tu.busy = true                   // as Start begins
	step(0, 0, []int{300}, 0)        // first sample: no rate yet, busy
	step(0.5, 100*mib, nil, 0)       // 200 MiB/s: busy, unchanged
	step(1, 1*mib, []int{80}, 1)     // 2 MiB/s: quiet (32 MiB over 40), memory returned
	step(1.5, 1*mib, nil, 1)         // still quiet: nothing more
	step(2, 50*mib, []int{300}, 1)   // busy again
	step(2.5, 0, []int{80}, 1)       // quiet again 1.5 s after the last return: none
	step(13, 500*mib, []int{300}, 1) // busy (45 MiB/s over 10.5 s)
	step(13.5, 1*mib, []int{80}, 2)  // quiet, 12.5 s after the last return
	live = 800 * mib                 // a large store
	sets = nil
	tu.afterGC()
	if len(sets) != 1 || sets[0] != MinPercent {
		t.Fatalf("quiet with 800 MiB live: GOGC set %v, want %d", sets, MinPercent)
	}
	step(14, 400*mib, []int{64}, 2) // busy: 512 MiB over 800
}

// Against the runtime: a tuner that never sees a busy rate holds a heap
// of 64 MiB live to 16 MiB of headroom (GOGC at the floor), and returns
// to the maximum once that is freed.
func TestTunerFollowsTheRuntime(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	stop := Start(Config{MaxPercent: 300, BusyHeadroom: 16 << 20, IdleHeadroom: 16 << 20, BusyRate: 1 << 60, Tick: 10 * time.Millisecond, FreeEvery: time.Hour})
	defer stop()
	gogc := func() int { p := debug.SetGCPercent(-1); debug.SetGCPercent(p); return p }
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
// finalizer goroutine after a collection, or at the next tick), for at
// most 10 s.
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
