package dc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/meridian-io/meridian/internal/bubble"
	"github.com/meridian-io/meridian/internal/faultnet"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
)

// Writes that arrive while a proposal is in flight share the next Raft
// entry: many concurrent writes cost a few log entries, and each gets its
// own answer. Appends take 2ms of fake time, as a disk sync would, so
// every write is queued (the bubble runs until all goroutines block)
// before the first proposal commits.
func TestGroupCommit(t *testing.T) {
	for _, batchingFSM := range []bool{true, false} {
		t.Run(fmt.Sprintf("batching FSM %v", batchingFSM), func(t *testing.T) {
			bubble.Test(t, func(t *testing.T) {
				slow := func(s LogStore) LogStore {
					return faultnet.SlowLogStore(s, func() time.Duration { return 2 * time.Millisecond })
				}
				c := startCluster(t, clusterOpts{servers: 3, tune: func(cfg *Config) { cfg.BatchingFSM = batchingFSM }, wrapLog: slow})
				leader := c.waitLeader()
				before := leader.raft.LastIndex()
				const writes = 200
				var wg sync.WaitGroup
				errs := make([]error, writes)
				oks := make([]bool, writes)
				for i := range writes {
					wg.Add(1)
					go func() {
						defer wg.Done()
						var resp pb.KVApplyResponse
						// Every other write goes through a follower.
						ts := leader
						if i%2 == 1 {
							ts = c.followers(leader)[0]
						}
						errs[i] = call(ts, MethodKVApply, kvSet(fmt.Sprintf("k%03d", i), fmt.Sprint(i)), &resp)
						oks[i] = resp.Ok
					}()
				}
				wg.Wait()
				for i, err := range errs {
					if err != nil || !oks[i] {
						t.Fatalf("write %d: ok=%v, %v", i, oks[i], err)
					}
				}
				entries := leader.raft.LastIndex() - before
				t.Logf("%d writes in %d raft entries", writes, entries)
				// One proposal in flight, and the rest in the next batch
				// (followers' forwarded writes may come in a third);
				// without group commit it takes one entry per write.
				if entries > 3 {
					t.Fatalf("%d writes took %d raft entries: not batched", writes, entries)
				}
				var list pb.KVGetResponse
				if err := call(c.followers(leader)[1], MethodKVGet, &pb.KVGetRequest{Key: "k", Recurse: true}, &list); err != nil || len(list.Entries) != writes {
					t.Fatalf("listed %d keys (%v), want %d", len(list.Entries), err, writes)
				}
				// A failed command in a batch fails alone.
				var wg2 sync.WaitGroup
				var casErr, setErr error
				var cas pb.KVApplyResponse
				wg2.Add(2)
				go func() {
					defer wg2.Done()
					req := &pb.KVApplyRequest{Op: &pb.KVOp{Verb: pb.KVVerb_KV_CAS, Entry: &pb.KVEntry{Key: "k000", Value: []byte("x"), ModifyIndex: 1}}}
					casErr = call(leader, MethodKVApply, req, &cas)
				}()
				go func() {
					defer wg2.Done()
					setErr = call(leader, MethodKVApply, kvSet("after", "y"), &pb.KVApplyResponse{})
				}()
				wg2.Wait()
				if casErr != nil || cas.Ok || setErr != nil {
					t.Fatalf("CAS with a stale index: ok=%v, %v; set beside it: %v", cas.Ok, casErr, setErr)
				}
			})
		})
	}
}

// A command larger than MaxEntrySize is refused before it reaches the log;
// a write whose caller gives up before it is proposed is taken back.
func TestProposerLimitsAndWithdrawal(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, func(cfg *Config) { cfg.MaxEntrySize = 1024 })
		leader := c.waitLeader()
		err := call(leader, MethodKVApply, kvSet("big", strings.Repeat("x", 2048)), &pb.KVApplyResponse{})
		if !errors.Is(err, rpc.ErrTooLarge) {
			t.Fatalf("oversized write: %v, want %v", err, rpc.ErrTooLarge)
		}
		// Cut the leader's Raft links: its one proposal in flight cannot
		// commit, and the next write waits behind it.
		for _, o := range c.followers(leader) {
			c.cutRaft(leader, o)
		}
		stuck := make(chan error, 1)
		go func() { stuck <- call(leader, MethodKVApply, kvSet("stuck", "1"), &pb.KVApplyResponse{}) }()
		synctest.Wait() // "stuck" is proposed and waits for Raft
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := leader.RPC(ctx, MethodKVApply, kvSet("withdrawn", "1"), &pb.KVApplyResponse{}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("write given up while pending: %v, want %v", err, context.DeadlineExceeded)
		}
		if err := <-stuck; !errors.Is(err, ErrIndeterminate) {
			t.Fatalf("write in flight when leadership was lost: %v, want %v", err, ErrIndeterminate)
		}
		c.heal()
		next := c.waitLeader()
		if got := kvValue(t, next, "withdrawn", pb.Consistency_CONSISTENCY_DEFAULT); got != "" {
			t.Fatalf("a withdrawn write was applied: %q", got)
		}
	})
}

// A write whose caller has given up before it leads a proposal is taken
// back, never applied, and the proposer goes on with the next write.
func TestProposerDropsWriteGivenUpBeforeLeading(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		leader := c.waitLeader()
		before := leader.raft.LastIndex()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		cmd := &pb.Command{Cmd: &pb.Command_Kv{Kv: kvSet("given-up", "1").Op}}
		if _, err := leader.proposer.propose(ctx, cmd); !errors.Is(err, context.Canceled) {
			t.Fatalf("write given up before it led: %v, want %v", err, context.Canceled)
		}
		if got := leader.raft.LastIndex(); got != before {
			t.Fatalf("raft log moved from %d to %d for a write given up", before, got)
		}
		if err := call(leader, MethodKVApply, kvSet("next", "1"), &pb.KVApplyResponse{}); err != nil {
			t.Fatalf("the write after: %v", err)
		}
		if got := kvValue(t, leader, "given-up", pb.Consistency_CONSISTENCY_DEFAULT); got != "" {
			t.Fatalf("a write given up was applied: %q", got)
		}
	})
}
