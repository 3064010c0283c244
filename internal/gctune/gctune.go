// Package gctune sets a server's garbage collector by what the process
// is doing.
//
// A busy server (allocating fast: writes, reads, registrations) runs with
// a high GOGC, a heap allowed to grow to several times its live data, for
// fewer collections: the collector's CPU is what it saves. A quiet one
// has no use for that headroom, which only holds memory. The tuner
// samples the allocation rate every tick: while it is at least BusyRate
// the heap may grow by BusyHeadroom over the live data, else by
// IdleHeadroom (GOGC between MinPercent and MaxPercent either way, set
// again after every collection as the live heap moves). When the process
// goes quiet after a busy spell the heap the spell grew to is collected
// and returned to the operating system at once (at most once every
// FreeEvery), instead of being held until the runtime's scavenger gets
// to it.
package gctune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// MinPercent is the lowest GOGC the tuner sets.
const MinPercent = 50

// Percent is the GOGC that lets a heap of live bytes grow by at most
// headroom, between MinPercent and maxPercent.
func Percent(maxPercent int, headroom, live uint64) int {
	if live == 0 {
		return maxPercent
	}
	p := headroom * 100 / live
	switch {
	case p >= uint64(maxPercent):
		return maxPercent
	case p < MinPercent:
		return min(MinPercent, maxPercent)
	}
	return int(p)
}

// Config is what the tuner aims for.
type Config struct {
	MaxPercent   int           // GOGC while the headroom allows it
	BusyHeadroom uint64        // bytes over the live heap while busy
	IdleHeadroom uint64        // bytes over the live heap while quiet
	BusyRate     uint64        // bytes allocated a second from which the process is busy
	Tick         time.Duration // how often the rate is sampled
	FreeEvery    time.Duration // the least time between two returns of memory
}

// Tuner adjusts GOGC; its methods are safe for concurrent use.
type Tuner struct {
	cfg Config

	// The runtime, replaced in tests.
	read       func() (allocs, live uint64)
	setPercent func(int)
	free       func()

	mu         sync.Mutex
	busy       bool
	percent    int
	lastAllocs uint64
	lastTick   time.Time
	lastFree   time.Time
	stopped    bool
}

func newTuner(cfg Config) *Tuner {
	return &Tuner{cfg: cfg, read: readRuntime, setPercent: func(p int) { debug.SetGCPercent(p) }, free: debug.FreeOSMemory, percent: -1}
}

var samples = []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/heap/live:bytes"}}
var samplesMu sync.Mutex

func readRuntime() (allocs, live uint64) {
	samplesMu.Lock()
	defer samplesMu.Unlock()
	metrics.Read(samples)
	if samples[0].Value.Kind() == metrics.KindUint64 {
		allocs = samples[0].Value.Uint64()
	}
	if samples[1].Value.Kind() == metrics.KindUint64 {
		live = samples[1].Value.Uint64()
	}
	return allocs, live
}

// headroom is the bound for the current state; t.mu held.
func (t *Tuner) headroom() uint64 {
	if t.busy {
		return t.cfg.BusyHeadroom
	}
	return t.cfg.IdleHeadroom
}

// apply sets GOGC for live; t.mu held.
func (t *Tuner) apply(live uint64) {
	if p := Percent(t.cfg.MaxPercent, t.headroom(), live); p != t.percent {
		t.percent = p
		t.setPercent(p)
	}
}

// afterGC follows the live heap a collection found.
func (t *Tuner) afterGC() {
	_, live := t.read()
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped {
		t.apply(live)
	}
}

// tick samples the allocation rate at now.
func (t *Tuner) tick(now time.Time) {
	allocs, live := t.read()
	t.mu.Lock()
	if t.stopped {
		t.mu.Unlock()
		return
	}
	freeNow := false
	if !t.lastTick.IsZero() && now.After(t.lastTick) {
		rate := float64(allocs-t.lastAllocs) / now.Sub(t.lastTick).Seconds()
		busy := rate >= float64(t.cfg.BusyRate)
		if t.busy && !busy && now.Sub(t.lastFree) >= t.cfg.FreeEvery {
			freeNow = true
			t.lastFree = now
		}
		t.busy = busy
	}
	t.lastAllocs, t.lastTick = allocs, now
	t.apply(live)
	t.mu.Unlock()
	if freeNow {
		// Collects with the quiet GOGC just set, and returns what the
		// busy spell's heap held beyond it.
		t.free()
	}
}

// Start runs a tuner until the returned function is called (GOGC stays
// as last set). It starts busy: a starting server is about to load its
// state.
func Start(cfg Config) (stop func()) {
	t := newTuner(cfg)
	t.mu.Lock()
	t.busy = true
	t.apply(0)
	t.mu.Unlock()
	// A sentinel object's finalizer runs once per collection that finds
	// it unreachable: it follows the live heap and arms a new sentinel.
	var arm func()
	arm = func() {
		runtime.SetFinalizer(new([16]byte), func(*[16]byte) {
			t.mu.Lock()
			stopped := t.stopped
			t.mu.Unlock()
			if stopped {
				return
			}
			t.afterGC()
			arm()
		})
	}
	arm()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(cfg.Tick)
		defer tk.Stop()
		for {
			select {
			case now := <-tk.C:
				t.tick(now)
			case <-done:
				return
			}
		}
	}()
	return func() {
		t.mu.Lock()
		t.stopped = true
		t.mu.Unlock()
		close(done)
		wg.Wait()
	}
}
