package dc

import (
	"context"
	"errors"
	"fmt"
	"sync"

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
}

type round struct {
	done  chan struct{}
	index uint64
	err   error
}

// wait blocks until a round that started after the call has finished, and
// returns its outcome.
func (b *roundBatcher) wait() (uint64, error) {
	b.mu.Lock()
	if b.next == nil {
		b.next = &round{done: make(chan struct{})}
	}
	r := b.next
	if !b.running {
		b.running = true
		go b.run()
	}
	b.mu.Unlock()
	<-r.done
	return r.index, r.err
}

// run performs rounds until no reader waits. It is started by wait and
// ends by itself; do must be bounded.
func (b *roundBatcher) run() {
	for {
		b.mu.Lock()
		r := b.next
		b.next = nil
		if r == nil {
			b.running = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		r.index, r.err = b.do()
		close(r.done)
	}
}

// verifyLeader confirms with a quorum that this server still leads, in a
// round shared with concurrent readers. Reads then see every write
// acknowledged before they began, since the leader acknowledges a write
// only after applying it, and a new leader serves reads only after
// applying its predecessors' entries.
func (s *Server) verifyLeader() error {
	_, err := s.verifier.wait()
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
		return s.verifyLeader()
	}
	idx, err := s.readIndexes.wait()
	if err != nil {
		return err
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
		return idx, s.verifyLeader()
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
	if err := s.verifyLeader(); err != nil {
		return err
	}
	resp.Index = idx
	return nil
}
