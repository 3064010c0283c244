package dc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/internal/clock"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
	"github.com/meridian-io/meridian/store"
)

// ErrIndeterminate is returned for a write whose outcome is unknown: it
// reached the Raft log, but leadership was lost before it committed here.
var ErrIndeterminate = errors.New("write outcome unknown")

// forwardRead sends a read to the leader unless this server may answer it:
// stale reads are answered by any server, the others by the leader. It
// reports whether the request was handled (forwarded) and its error.
func (s *Server) forwardRead(ctx context.Context, method string, q *pb.QueryOptions, req, resp proto.Message) (bool, error) {
	if done, err := s.forwardDC(ctx, method, q.GetDc(), true, req, resp); done {
		return true, err
	}
	if q.GetConsistency() == pb.Consistency_CONSISTENCY_STALE && s.hasCaughtUp() {
		return false, nil
	}
	if q.GetMinIndex() > 0 {
		// Identical blocking queries may share this one on its way.
		openForwarded(ctx)
		defer setJoinable(ctx, false)
	}
	return s.forwardToLeader(ctx, method, req, resp, true)
}

// forwardQuery is forwardRead for endpoints that linearize their reads
// themselves (blockingQuery, read-only txn): with FollowerReads a follower
// answers default and consistent reads too, after a read index from the
// leader (see linearize), instead of forwarding the whole request.
//
// Blocking ones (min_index set) still go to the leader, as in Consul: a
// follower applies a write only once the leader tells it the write
// committed, which Raft does with its next append or after CommitTimeout
// (50-100 ms when writes pause), so a watcher on a follower would learn of
// a change that much later than one on the leader.
func (s *Server) forwardQuery(ctx context.Context, method string, q *pb.QueryOptions, req, resp proto.Message) (bool, error) {
	if s.cfg.FollowerReads && q.GetConsistency() != pb.Consistency_CONSISTENCY_STALE && q.GetMinIndex() == 0 && !s.IsLeader() {
		return s.forwardDC(ctx, method, q.GetDc(), true, req, resp)
	}
	return s.forwardRead(ctx, method, q, req, resp)
}

// hasCaughtUp reports whether this server may answer stale reads: it has
// heard from a leader since it started and applied everything committed
// at that time. Once true it stays true; later lag is what stale reads
// accept, and LastContact reports it.
func (s *Server) hasCaughtUp() bool {
	if s.caughtUp.Load() {
		return true
	}
	commit := s.raft.CommitIndex()
	if s.readyToServe(true) || (!s.raft.LastContact().IsZero() && commit > 0 && s.fsm.applied.Load() >= commit) {
		s.caughtUp.Store(true)
		return true
	}
	return false
}

// readyToServe reports whether this server may act as the leader for the
// request: it leads and, for reads, has applied all of its predecessors'
// entries.
func (s *Server) readyToServe(read bool) bool {
	return s.IsLeader() && (!read || s.leaderReady.Load())
}

// forwardWrite sends a write to the leader unless this server is it.
func (s *Server) forwardWrite(ctx context.Context, method string, w *pb.WriteOptions, req, resp proto.Message) (bool, error) {
	if done, err := s.forwardDC(ctx, method, w.GetDc(), false, req, resp); done {
		return true, err
	}
	s.forwarding.add()
	defer s.forwarding.done()
	bc, ok := s.deps.Pool.(BatchCaller)
	if !ok {
		return s.forwardToLeader(ctx, method, req, resp, false)
	}
	// Writes answer once committed, so many clients' writes travel to the
	// leader together (one stream and one handler dispatch per batch).
	local, err := s.viaLeader(ctx, false, func(addr string) error {
		return bc.CallBatched(ctx, addr, method, req, resp)
	})
	return !local, err
}

// forwardToLeader waits up to RPCHoldTimeout for a leader, then forwards to
// it. A read is retried on another leader after a transport error; a write
// is not, since it may have been applied.
func (s *Server) forwardToLeader(ctx context.Context, method string, req, resp proto.Message, read bool) (bool, error) {
	local, err := s.viaLeader(ctx, read, func(addr string) error {
		return s.deps.Pool.Call(ctx, addr, method, req, resp)
	})
	return !local, err
}

// viaLeader waits up to RPCHoldTimeout for a leader. It reports local as
// soon as this server may serve the request itself (readyToServe);
// otherwise it calls remote with the leader's address, again after an
// error retryForward allows, and returns remote's outcome.
func (s *Server) viaLeader(ctx context.Context, read bool, remote func(addr string) error) (local bool, err error) {
	hold, holdTimer := clock.After(s.clock, s.cfg.RPCHoldTimeout)
	defer holdTimer.Stop()
	for {
		if s.readyToServe(read) {
			return true, nil
		}
		err = nil
		if addr := s.LeaderAddr(); addr != "" && !s.IsLeader() {
			if err = remote(addr); !retryForward(err, read) {
				return false, err
			}
		}
		retry, retryTimer := clock.After(s.clock, jitter(20*time.Millisecond, 80*time.Millisecond))
		select {
		case <-ctx.Done():
			retryTimer.Stop()
			return false, ctx.Err()
		case <-s.shutdownCh:
			retryTimer.Stop()
			return false, rpc.ErrShutdown
		case <-hold:
			retryTimer.Stop()
			if err != nil {
				return false, err
			}
			return false, rpc.ErrNoLeader
		case <-retry:
		}
	}
}

func jitter(lo, hi time.Duration) time.Duration {
	return lo + rand.N(hi-lo)
}

// raftApply proposes cmd (through the group commit) and waits for the
// FSM's result.
func (s *Server) raftApply(ctx context.Context, cmd *pb.Command) (*store.Result, error) {
	return s.proposer.propose(ctx, cmd)
}

// applyError maps an error of raft.Apply to what callers act on: refused
// before the log (ErrNoLeader, safe to retry elsewhere), outcome unknown
// (ErrIndeterminate, never retried), shutdown, or a timeout.
func applyError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: %v", rpc.ErrNoLeader, err)
	case errors.Is(err, raft.ErrLeadershipLost):
		// In the log but perhaps not committed: a retried CAS would report
		// false for a write that took effect.
		return fmt.Errorf("%w: leadership lost while committing; the write may or may not have taken effect", ErrIndeterminate)
	case errors.Is(err, raft.ErrRaftShutdown):
		return rpc.ErrShutdown
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %v", context.DeadlineExceeded, err)
	}
	return err
}

// retryForward reports whether a forwarded request that failed with err
// may be sent again: only when it surely did not reach a log (no leader
// there), or, for reads, when the transport failed.
func retryForward(err error, read bool) bool {
	return errors.Is(err, rpc.ErrNoLeader) || (read && errors.Is(err, rpc.ErrTransport))
}

// setQueryMeta fills what every read reports about this server's view.
func (s *Server) setQueryMeta(m *pb.QueryMeta) {
	if s.IsLeader() {
		m.LastContactNanos = 0
		m.KnownLeader = true
		return
	}
	if last := s.raft.LastContact(); !last.IsZero() {
		m.LastContactNanos = int64(s.clock.Now().Sub(last))
	}
	m.KnownLeader = s.LeaderAddr() != ""
}
