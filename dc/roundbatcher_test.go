package dc

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/meridian-io/meridian/internal/bubble"
	"github.com/meridian-io/meridian/rpc"
)

// TestRoundWaitEndsWithItsCaller is the regression test of issue 12's
// hang: a server restarted just before every server got SIGTERM ran
// anti-entropy's first full sync, a follower read waiting on a read-index
// round that looked for a leader for the whole RPC hold timeout (7 s). The
// agent stops anti-entropy before the server, so canceling the sync's
// context must end its wait at once, while the round goes on for others.
func TestRoundWaitEndsWithItsCaller(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		b := &roundBatcher{do: func() (uint64, error) {
			<-release // a leader that does not answer
			return 7, nil
		}}

		patient := make(chan uint64, 1)
		go func() {
			idx, _ := b.wait(t.Context())
			patient <- idx
		}()
		synctest.Wait() // a round is running and blocked
		ctx, cancel := context.WithCancel(t.Context())
		gaveUp := make(chan error, 1)
		go func() {
			_, err := b.wait(ctx)
			gaveUp <- err
		}()
		synctest.Wait()
		cancel()
		synctest.Wait()
		select {
		case err := <-gaveUp:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("canceled reader: got %v, want context.Canceled", err)
			}
		default:
			t.Fatal("a reader whose context ended still waits for the round")
		}

		close(release)
		if idx := <-patient; idx != 7 {
			t.Fatalf("reader that stayed: index %d, want 7", idx)
		}
		b.stop()
		if _, err := b.wait(t.Context()); !errors.Is(err, rpc.ErrShutdown) {
			t.Fatalf("wait after stop: got %v, want rpc.ErrShutdown", err)
		}
	})
}

// TestRoundBatcherStopWaitsForTheRound checks that stop returns only once
// the goroutine running rounds has ended, and fails rounds still queued
// instead of running them.
func TestRoundBatcherStopWaitsForTheRound(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		b := &roundBatcher{do: func() (uint64, error) {
			<-release
			return 1, nil
		}}
		first := make(chan error, 1)
		go func() {
			_, err := b.wait(t.Context())
			first <- err
		}()
		synctest.Wait() // the first round runs and blocks
		queued := make(chan error, 1)
		go func() {
			_, err := b.wait(t.Context())
			queued <- err
		}()
		synctest.Wait() // the second reader waits for the next round

		stopped := make(chan struct{})
		go func() {
			b.stop()
			close(stopped)
		}()
		synctest.Wait()
		select {
		case <-stopped:
			t.Fatal("stop returned while a round was still running")
		default:
		}
		close(release)
		<-stopped
		if err := <-first; err != nil {
			t.Fatalf("round in progress at stop: %v", err)
		}
		if err := <-queued; !errors.Is(err, rpc.ErrShutdown) {
			t.Fatalf("round queued at stop: got %v, want rpc.ErrShutdown", err)
		}
	})
}
