package dc

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meridian-io/meridian/internal/bubble"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
)

// A follower forwards writes to the leader over RPC, and answers default
// and consistent reads itself after a read index from the leader: a read
// that begins after a write was acknowledged sees it, on any server.
func TestFollowerForwardsWritesAndReadsAtTheLeadersIndex(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		leader := c.waitLeader()
		f := c.followers(leader)
		f[0].calls.count(MethodKVApply)

		var resp pb.KVApplyResponse
		if err := call(f[0], MethodKVApply, kvSet("fwd", "one"), &resp); err != nil || !resp.Ok || resp.Index == 0 {
			t.Fatalf("write on a follower: %v, %v", &resp, err)
		}
		if n := f[0].calls.count(MethodKVApply); n != 1 {
			t.Fatalf("follower forwarded the write %d times, want 1", n)
		}
		// The leader applied it before acknowledging.
		if got := kvValue(t, leader, "fwd", pb.Consistency_CONSISTENCY_STALE); got != "one" {
			t.Fatalf("leader's store has %q", got)
		}

		for i, mode := range []pb.Consistency{pb.Consistency_CONSISTENCY_DEFAULT, pb.Consistency_CONSISTENCY_CONSISTENT} {
			want := fmt.Sprintf("v%d", i)
			if err := call(leader, MethodKVApply, kvSet("ri", want), &pb.KVApplyResponse{}); err != nil {
				t.Fatal(err)
			}
			for _, ts := range f {
				ts.calls.count(MethodReadIndex)
				ts.calls.count(MethodKVGet)
				if got := kvValue(t, ts, "ri", mode); got != want {
					t.Fatalf("%v read on %s = %q right after the write, want %q", mode, ts.name, got, want)
				}
				if ri, fwd := ts.calls.count(MethodReadIndex), ts.calls.count(MethodKVGet); ri != 1 || fwd != 0 {
					t.Fatalf("%s read on %s: %d read-index calls and %d forwarded reads, want 1 and 0", mode, ts.name, ri, fwd)
				}
			}
		}
		// Stale reads are answered locally once the follower has caught up.
		waitFor(t, "stale read on a follower", func() error {
			if got := kvValue(t, f[1], "ri", pb.Consistency_CONSISTENCY_STALE); got != "v1" {
				return fmt.Errorf("stale read %q", got)
			}
			return nil
		})
		var meta pb.KVGetResponse
		if err := call(f[1], MethodKVGet, &pb.KVGetRequest{Key: "ri", Query: &pb.QueryOptions{Consistency: pb.Consistency_CONSISTENCY_STALE}}, &meta); err != nil || !meta.Meta.KnownLeader {
			t.Fatalf("stale read meta %v, %v: want a known leader", meta.Meta, err)
		}
	})
}

// Without FollowerReads, a follower forwards the whole read.
func TestFollowerForwardsReadsWithoutFollowerReads(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, func(cfg *Config) { cfg.FollowerReads = false })
		leader := c.waitLeader()
		if err := call(leader, MethodKVApply, kvSet("k", "v"), &pb.KVApplyResponse{}); err != nil {
			t.Fatal(err)
		}
		f := c.followers(leader)[0]
		if got := kvValue(t, f, "k", pb.Consistency_CONSISTENCY_DEFAULT); got != "v" {
			t.Fatalf("read on follower = %q", got)
		}
		if n := f.calls.count(MethodKVGet); n != 1 {
			t.Fatalf("%d forwarded reads, want 1", n)
		}
	})
}

// The indeterminate-write rule: a write that reached the leader's log but
// lost its leadership before committing is reported as of unknown outcome
// and is never retried on the next leader (a retried CAS could report
// false for a write that took effect).
func TestWriteInLogWhenLeadershipIsLostIsIndeterminate(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		leader := c.waitLeader()
		f := c.followers(leader)
		// The leader keeps its RPC links but loses Raft to both followers:
		// it takes the write into its log and cannot commit it.
		for _, o := range f {
			c.cutRaft(leader, o)
		}
		f[0].calls.count(MethodKVApply)
		start := time.Now()
		err := call(f[0], MethodKVApply, kvSet("lost", "x"), &pb.KVApplyResponse{})
		if err == nil {
			t.Fatal("a write that cannot commit succeeded")
		}
		// ErrIndeterminate crosses the wire as an internal error that
		// keeps its text (rpc has no code for it); either way it is not
		// ErrNoLeader, the one error a forwarder retries.
		if errors.Is(err, rpc.ErrNoLeader) || !strings.Contains(err.Error(), ErrIndeterminate.Error()) {
			t.Fatalf("forwarded write: %v, want %q", err, ErrIndeterminate)
		}
		if n := f[0].calls.count(MethodKVApply); n != 1 {
			t.Fatalf("the write was sent %d times, want 1 (never retried)", n)
		}
		t.Logf("indeterminate after %s", time.Since(start))

		// On the server that lost leadership itself, the identity is kept.
		c.heal()
		leader = c.waitLeader()
		f = c.followers(leader)
		for _, o := range f {
			c.cutRaft(leader, o)
		}
		err = call(leader, MethodKVApply, kvSet("lost2", "x"), &pb.KVApplyResponse{})
		if !errors.Is(err, ErrIndeterminate) {
			t.Fatalf("write on the leader that lost leadership: %v, want %v", err, ErrIndeterminate)
		}
		c.heal()
		c.waitLeader()
	})
}

// A server cut off from every other has no leader to forward to: reads
// and writes fail within RPCHoldTimeout instead of hanging.
func TestIsolatedServerFailsWithinHoldTimeout(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		leader := c.waitLeader()
		f := c.followers(leader)[0]
		c.isolate(f)
		waitFor(t, "the isolated server forgets the leader", func() error {
			if addr := f.LeaderAddr(); addr != "" {
				return fmt.Errorf("still follows %s", addr)
			}
			return nil
		})
		start := time.Now()
		err := call(f, MethodKVApply, kvSet("k", "v"), &pb.KVApplyResponse{})
		if !errors.Is(err, rpc.ErrNoLeader) {
			t.Fatalf("write on an isolated server: %v, want %v", err, rpc.ErrNoLeader)
		}
		if took := time.Since(start); took < f.cfg.RPCHoldTimeout || took > f.cfg.RPCHoldTimeout+time.Second {
			t.Fatalf("failed after %s, want about RPCHoldTimeout (%s)", took, f.cfg.RPCHoldTimeout)
		}
		var resp pb.KVGetResponse
		if err := call(f, MethodKVGet, &pb.KVGetRequest{Key: "k"}, &resp); !errors.Is(err, rpc.ErrNoLeader) {
			t.Fatalf("read on an isolated server: %v, want %v", err, rpc.ErrNoLeader)
		}
		var leaderResp pb.StatusLeaderResponse
		if err := call(f, MethodStatusLeader, &pb.StatusRequest{}, &leaderResp); err != nil || leaderResp.Address != "" {
			t.Fatalf("status leader on an isolated server: %q, %v", leaderResp.Address, err)
		}
		c.heal()
		c.waitLeader()
		if err := call(f, MethodKVApply, kvSet("k", "v"), &pb.KVApplyResponse{}); err != nil {
			t.Fatalf("write after heal: %v", err)
		}
	})
}
