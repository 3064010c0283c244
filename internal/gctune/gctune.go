// Package gctune bounds the garbage collector's headroom on large heaps.
//
// A server runs with a high GOGC (a heap allowed to grow to several times
// its live data, for fewer collections) because its live data is usually
// small next to the garbage its requests make. With a large store (a
// million keys: ~800 MiB live) the same percentage would let the heap
// grow by gigabytes. CapHeadroom keeps the percentage while the headroom
// it allows is under a bound and lowers it, after each collection, so the
// heap grows by at most that bound over the live data (never below
// MinPercent).
package gctune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// MinPercent is the lowest GOGC CapHeadroom sets.
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

// CapHeadroom sets GOGC to maxPercent and then, after every collection,
// to Percent(maxPercent, headroom, live heap). It returns a function that
// stops the adjustments (GOGC stays as last set).
func CapHeadroom(maxPercent int, headroom uint64) (stop func()) {
	var stopped atomic.Bool
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	current := maxPercent
	debug.SetGCPercent(maxPercent)
	// A sentinel object's finalizer runs once per collection that finds it
	// unreachable: it adjusts GOGC and arms a new sentinel.
	var arm func()
	arm = func() {
		runtime.SetFinalizer(new([16]byte), func(*[16]byte) {
			if stopped.Load() {
				return
			}
			metrics.Read(sample)
			if sample[0].Value.Kind() == metrics.KindUint64 {
				if p := Percent(maxPercent, headroom, sample[0].Value.Uint64()); p != current {
					current = p
					debug.SetGCPercent(p)
				}
			}
			arm()
		})
	}
	arm()
	return func() { stopped.Store(true) }
}
