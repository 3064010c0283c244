package dc

import (
	"context"
	"errors"
	"testing"
	"time"
)

// DrainWrites waits for the writes in flight, and no longer than its
// context.
func TestInflightWait(t *testing.T) {
	var f inflight
	if err := f.wait(context.Background()); err != nil {
		t.Fatalf("nothing in flight: %v", err)
	}
	f.add()
	f.add()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := f.wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("two in flight: %v, want the context's deadline", err)
	}
	released := make(chan error, 1)
	go func() { released <- f.wait(context.Background()) }()
	f.done()
	select {
	case err := <-released:
		t.Fatalf("returned with one still in flight: %v", err)
	default:
	}
	f.done()
	if err := <-released; err != nil {
		t.Fatalf("after the last: %v", err)
	}
	f.add() // a new round starts from zero again
	f.done()
	if err := f.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}
