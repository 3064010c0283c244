package dc

import (
	"context"
	"math/rand/v2"
	"time"

	memdb "github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
)

// queryFn runs one read against the store, adding what it read to ws, and
// returns the result's index.
type queryFn func(ws memdb.WatchSet) (uint64, error)

// blockingQuery runs fn, and while q asks to block (min_index > 0) and the
// result's index has not passed min_index, waits for what fn read to change
// and runs it again, until the wait expires. The wait is q's, defaulted and
// clamped to the configured bounds, plus up to 1/16 jitter as Consul does so
// that many watchers do not return at once. A timeout is not an error.
func (s *Server) blockingQuery(ctx context.Context, q *pb.QueryOptions, meta *pb.QueryMeta, fn queryFn) error {
	meta.Consistency = q.GetConsistency()
	// A read that does not block needs no contexts of its own. A blocking
	// one waits under wctx, which ends when the wait runs out, the caller
	// goes, or the server shuts down.
	var wctx context.Context
	if q.GetMinIndex() > 0 {
		s.deps.Metrics.IncrCounter(keyRPCQuery, 1)
		wait := time.Duration(q.GetMaxWaitNanos())
		if wait <= 0 {
			wait = s.cfg.DefaultQueryTime
		}
		wait = min(wait, s.cfg.MaxQueryTime)
		wait += rand.N(wait/16 + 1)
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, wait)
		defer cancel()
		defer context.AfterFunc(s.baseCtx, cancel)()
	}
	for first := true; ; first = false {
		if !first {
			// A shared query's members all arrived before this read
			// (the query closed to new ones when its wait ended).
			markRead(ctx)
		}
		// A default read is linearized once, before its first read: what
		// this store applies after that is newer still, so every later
		// read of the wait also sees each write acknowledged before the
		// request began (the leader acknowledges a write only once it has
		// applied it). Waking 1,000 watchers of a key then costs no quorum
		// round of its own. ?consistent confirms before every read, as
		// Consul does.
		if c := q.GetConsistency(); c == pb.Consistency_CONSISTENCY_CONSISTENT || (first && c != pb.Consistency_CONSISTENCY_STALE) {
			if err := s.linearize(ctx); err != nil {
				return err
			}
		}
		// A read that does not block watches nothing (a nil set).
		var ws memdb.WatchSet
		abandon := s.store.AbandonCh()
		if wctx != nil {
			ws = memdb.NewWatchSet()
			ws.Add(abandon)
		}
		idx, err := fn(ws)
		if err != nil {
			return err
		}
		meta.Index = max(idx, 1)
		s.setQueryMeta(meta)
		if q.GetMinIndex() == 0 || meta.Index > q.GetMinIndex() {
			return nil
		}
		// Identical queries may join this one while it waits (see
		// sharedQueries), not once it reads again.
		setJoinable(ctx, true)
		s.blocking.Add(1)
		err = ws.WatchCtx(wctx)
		s.blocking.Add(-1)
		setJoinable(ctx, false)
		if err != nil {
			// The wait ran out (not an error: the caller gets the current
			// result), or the caller or the server went away.
			if s.baseCtx.Err() != nil {
				return rpc.ErrShutdown
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return nil
		}
		select {
		case <-abandon:
			// A snapshot restore replaced the store: its index may now be
			// below min_index, so waiting for it to pass would hang the
			// query; answer with the restored contents instead.
			q = restoredQuery(q)
		default:
		}
	}
}

// restoredQuery is q without a min_index, for the one last read a
// blocking query makes after a restore replaced the store.
func restoredQuery(q *pb.QueryOptions) *pb.QueryOptions {
	c := proto.Clone(q).(*pb.QueryOptions)
	c.MinIndex = 0
	return c
}
