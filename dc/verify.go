package dc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
)

// roundBatcher shares one round of work (a leadership check, a read-index
// request) among concurrent readers, as etcd's ReadIndex does: a reader
// joins the next round, which starts only after it arrived, so the
// round's answer is one obtained after the read began.
type roundBatcher struct {
	do func() (uint64, error)

	mu      sync.Mutex
	next    *round
	running bool
	stopped bool
	wg      sync.WaitGroup // the goroutine running rounds
	// rounds counts the rounds performed, for tests.
	rounds atomic.Uint64
}

type round struct {
	done  chan struct{}
	index uint64
	err   error
}

// wait blocks until a round that started after the call has finished, and
// returns its outcome, or until ctx ends. The round itself is bounded by
// the server's lifetime, not by any one reader: a reader that gives up
// leaves it to the others, and it must not keep its reader (an HTTP
// request, anti-entropy during the agent's shutdown) waiting on a leader
// that may never come back.
func (b *roundBatcher) wait(ctx context.Context) (uint64, error) {
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return 0, rpc.ErrShutdown
	}
	if b.next == nil {
		b.next = &round{done: make(chan struct{})}
	}
	r := b.next
	if !b.running {
		b.running = true
		b.wg.Add(1)
		go b.run()
	}
	b.mu.Unlock()
	select {
	case <-r.done:
		return r.index, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// run performs rounds until no reader waits. It is started by wait and
// ends by itself, or at stop; do must be bounded.
func (b *roundBatcher) run() {
	defer b.wg.Done()
	for {
		b.mu.Lock()
		r, stopped := b.next, b.stopped
		b.next = nil
		if r == nil {
			b.running = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		if stopped {
			r.err = rpc.ErrShutdown
		} else {
			r.index, r.err = b.do()
			b.rounds.Add(1)
		}
		close(r.done)
	}
}

// stop refuses new rounds and waits for the goroutine running them. The
// server stops it after canceling its base context and shutting Raft
// down, which ends a round in progress.
func (b *roundBatcher) stop() {
	b.mu.Lock()
	b.stopped = true
	b.mu.Unlock()
	b.wg.Wait()
}

// verifyLeader confirms with a quorum that this server still leads, in a
// round shared with concurrent readers. Reads then see every write
// acknowledged before they began, since the leader acknowledges a write
// only after applying it, and a new leader serves reads only after
// applying its predecessors' entries.
func (s *Server) verifyLeader(ctx context.Context) error {
	_, err := s.verifier.wait(ctx)
	return err
}

func (s *Server) verifyRound() (uint64, error) {
	if err := s.await(s.raft.VerifyLeader()); err != nil {
		return 0, rpc.ErrNoLeader
	}
	return 0, nil
}

// linearize makes what this server reads next linearizable (default and
// consistent reads). The leader confirms its leadership. A follower asks
// the leader for a read index (the leader's last store index, confirmed
// by a leadership check that began after the request) and waits until its
// own store has applied that far: every write acknowledged before the read
// began is then in its store, and the read costs the leader one small RPC
// shared by every concurrent reader of the follower instead of the read.
func (s *Server) linearize(ctx context.Context) error {
	if s.readyToServe(true) {
		return s.verifyLeader(ctx)
	}
	idx, err := s.readIndexes.wait(ctx)
	if err != nil {
		return err
	}
	// Usually the store is there already: raft entries up to applied are
	// in it (unless it stopped applying), and the read index is an index
	// of the leader's store, so of an entry no later than that.
	if s.fsm.applied.Load() >= idx && s.store.Stopped() == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RPCHoldTimeout)
	defer cancel()
	if err := s.store.WaitIndex(ctx, idx); err != nil {
		return fmt.Errorf("%w: store still behind the leader's read index %d: %v", rpc.ErrNoLeader, idx, err)
	}
	return nil
}

// readIndexRound gets a read index from the leader, waiting up to
// RPCHoldTimeout for one. If this server becomes the leader meanwhile, it
// answers itself.
func (s *Server) readIndexRound() (uint64, error) {
	ctx, cancel := context.WithTimeout(s.baseCtx, s.cfg.RPCHoldTimeout)
	defer cancel()
	var resp pb.ReadIndexResponse
	local, err := s.viaLeader(ctx, true, func(addr string) error {
		return s.deps.Pool.Call(ctx, addr, MethodReadIndex, &pb.ReadIndexRequest{}, &resp)
	})
	if local {
		idx := s.store.LastIndex()
		return idx, s.verifyLeader(ctx)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = rpc.ErrNoLeader
	}
	return resp.GetIndex(), err
}

// readIndex answers a follower's read-index request (see linearize).
func (s *Server) readIndex(ctx context.Context, _ *pb.ReadIndexRequest, resp *pb.ReadIndexResponse) error {
	if !s.readyToServe(true) {
		return rpc.ErrNoLeader
	}
	idx := s.store.LastIndex()
	// The follower applies up to idx only once it knows idx committed:
	// send it the commit index now (alongside the leadership check),
	// not with the next write or after CommitTimeout (50-100 ms when
	// writes pause).
	s.raft.PushCommitIndex()
	if err := s.verifyLeader(ctx); err != nil {
		return err
	}
	resp.Index = idx
	return nil
}
