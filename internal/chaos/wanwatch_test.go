package chaos

import (
	"errors"
	"testing"
	"time"
)

// TestWANWatch checks how the two-DC run sorts calls by the WAN cuts they
// overlapped.
func TestWANWatch(t *testing.T) {
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	ww := &wanWatch{windows: []window{{start: at(100), end: at(200)}, {start: at(300), end: at(400)}}}
	fail := errors.New("No path to datacenter")
	calls := []struct {
		call, took int
		err        error
	}{
		{0, 50, nil},     // before any cut: ignored
		{0, 50, fail},    // before any cut: ignored
		{90, 20, fail},   // in flight at the first cut, failed: counted
		{110, 10, fail},  // in the first cut, failed
		{150, 10, nil},   // made and answered within the first cut: wrong
		{190, 30, nil},   // made in the first cut, answered after the heal: late
		{210, 30, fail},  // between the cuts: ignored
		{250, 100, fail}, // made before the second cut, failed in it
		{350, 100, fail}, // made in the second cut, failed after the heal
		{280, 140, nil},  // in flight during the whole second cut: late
		{450, 10, nil},   // after every cut: ignored
	}
	for _, c := range calls {
		ww.observeCross(at(c.call), ms(c.took), c.err)
	}
	if got, want := len(ww.failed), 4; got != want {
		t.Errorf("failed = %v, want %d of them", ww.failed, want)
	}
	if ww.crossOK != 1 {
		t.Errorf("answered within a cut = %d, want 1", ww.crossOK)
	}
	if len(ww.late) != 2 || ww.late[0] != ms(30) || ww.late[1] != ms(140) {
		t.Errorf("late = %v, want [30ms 140ms]", ww.late)
	}
	if ww.slowest != ms(100) {
		t.Errorf("slowest = %s, want 100ms", ww.slowest)
	}

	// Local operations count only during the cut standing now.
	ww.cut()
	ww.observeLocal(0)(time.Now(), 0, nil)
	ww.observeLocal(1)(time.Now(), 0, fail)
	ww.observeLocal(1)(t0, 0, nil) // made before the cut
	if cs := ww.healed("test"); cs.localOK != [2]int{1, 0} {
		t.Errorf("local ops during the cut = %v, want [1 0]", cs.localOK)
	}
	ww.observeLocal(0)(time.Now(), 0, nil)
	if ww.localOK != [2]int{1, 0} {
		t.Errorf("a local op after the heal was counted: %v", ww.localOK)
	}
}
