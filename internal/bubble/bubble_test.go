package bubble

import (
	"runtime"
	"testing"
	"time"
)

func TestRunsInBubbleAndRestoresProcs(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	var inside int
	var elapsed time.Duration
	Test(t, func(t *testing.T) {
		inside = runtime.GOMAXPROCS(0)
		start := time.Now()
		time.Sleep(time.Hour) // the bubble's clock: returns at once
		elapsed = time.Since(start)
	})
	if elapsed != time.Hour {
		t.Fatalf("bubble clock advanced %v, want 1h", elapsed)
	}
	want := before
	if raceEnabled {
		want = 1
	}
	if inside != want {
		t.Fatalf("GOMAXPROCS in the bubble = %d, want %d", inside, want)
	}
	if after := runtime.GOMAXPROCS(0); after != before {
		t.Fatalf("GOMAXPROCS after = %d, want %d", after, before)
	}
}
