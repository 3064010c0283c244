package dc

import (
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// stuckFuture is a Raft future nobody answers: what Raft leaves behind for
// an entry still queued (apply channel, FSM queue) when it shuts down.
type stuckFuture struct{ answer chan error }

func (f stuckFuture) Error() error { return <-f.answer }

func TestAwaitReturnsWhenRaftIsDown(t *testing.T) {
	s := &Server{raftDown: make(chan struct{})}
	answered := stuckFuture{answer: make(chan error, 1)}
	answered.answer <- raft.ErrLeadershipLost
	if err := s.await(answered); !errors.Is(err, raft.ErrLeadershipLost) {
		t.Fatalf("answered future: got %v", err)
	}

	stuck := stuckFuture{answer: make(chan error)}
	got := make(chan error, 1)
	go func() { got <- s.await(stuck) }()
	select {
	case err := <-got:
		t.Fatalf("await returned %v while Raft is up and the future unanswered", err)
	default:
	}
	close(s.raftDown)
	select {
	case err := <-got:
		if !errors.Is(err, raft.ErrRaftShutdown) {
			t.Fatalf("after shutdown: got %v, want %v", err, raft.ErrRaftShutdown)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("await still waiting after Raft shut down")
	}
}
