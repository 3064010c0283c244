package clock

import (
	"context"
	"errors"
	"testing"
	"time"
)

var testStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestFakeFiresInDeadlineOrder(t *testing.T) {
	c := NewFake(testStart)
	var fired []string
	var at []time.Duration
	record := func(name string) func() {
		return func() {
			fired = append(fired, name)
			at = append(at, c.Now().Sub(testStart))
		}
	}
	c.AfterFunc(3*time.Second, record("c"))
	c.AfterFunc(1*time.Second, record("a"))
	stopped := c.AfterFunc(2*time.Second, record("stopped"))
	c.AfterFunc(2*time.Second, func() {
		record("b")()
		// Scheduled inside the window: fires within the same Advance.
		c.AfterFunc(500*time.Millisecond, record("b2"))
	})
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer returned false")
	}
	if stopped.Stop() {
		t.Fatal("second Stop returned true")
	}
	if got := c.Pending(); got != 3 {
		t.Fatalf("Pending = %d, want 3", got)
	}
	if next, ok := c.NextDeadline(); !ok || !next.Equal(testStart.Add(time.Second)) {
		t.Fatalf("NextDeadline = %v, %v", next, ok)
	}

	c.Advance(2500 * time.Millisecond)
	want := []string{"a", "b", "b2"}
	if len(fired) != len(want) {
		t.Fatalf("fired %v, want %v", fired, want)
	}
	for i := range want {
		if fired[i] != want[i] {
			t.Fatalf("fired %v, want %v", fired, want)
		}
	}
	if at[0] != time.Second || at[1] != 2*time.Second || at[2] != 2500*time.Millisecond {
		t.Fatalf("fire times %v", at)
	}
	if got := c.Now().Sub(testStart); got != 2500*time.Millisecond {
		t.Fatalf("Now = +%v", got)
	}
	c.Advance(time.Second)
	if len(fired) != 4 || fired[3] != "c" {
		t.Fatalf("fired %v", fired)
	}
	if c.Pending() != 0 {
		t.Fatalf("Pending = %d after all fired", c.Pending())
	}
	if _, ok := c.NextDeadline(); ok {
		t.Fatal("NextDeadline with no timers")
	}
}

func TestFakeBlockUntil(t *testing.T) {
	c := NewFake(testStart)
	done := make(chan error, 1)
	go func() { done <- c.BlockUntil(testCtx(t), 2) }()
	c.AfterFunc(time.Second, func() {})
	c.AfterFunc(time.Second, func() {})
	if err := <-done; err != nil {
		t.Fatalf("BlockUntil: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.BlockUntil(ctx, 3); !errors.Is(err, context.Canceled) {
		t.Fatalf("BlockUntil on a cancelled context = %v", err)
	}
}

func TestRealAfterFunc(t *testing.T) {
	fired := make(chan struct{})
	Real().AfterFunc(time.Millisecond, func() { close(fired) })
	select {
	case <-fired:
	case <-time.After(10 * time.Second):
		t.Fatal("real AfterFunc did not fire")
	}
	if Real().Now().IsZero() {
		t.Fatal("zero time")
	}
}
