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
	"github.com/meridian-io/meridian/wan"
)

// replicatedPair starts dc1 (the source, three servers) and dc2 (three
// servers following app/ but not app/secret/ of dc1) in one bubble.
func replicatedPair(t *testing.T, tuneSource func(*Config)) (dc1, dc2 *testCluster) {
	t.Helper()
	router := &fakeRouter{servers: map[string][]wan.Server{}}
	dc1 = startCluster(t, clusterOpts{servers: 3, tune: tuneSource})
	dc2 = startCluster(t, clusterOpts{servers: 3, datacenter: "dc2", subnet: 2, net: dc1.net, router: router,
		tune: func(c *Config) {
			c.KVReplication = KVReplicationConfig{SourceDatacenter: "dc1", Prefixes: []string{"app/"}, Exclude: []string{"app/secret/"},
				Wait: 10 * time.Second, RPCSlack: 2 * time.Second, MaxChanges: 64, BatchChanges: 16}
		}})
	router.add("dc1", dc1) // dc2's leader may be asking for dc1 already
	dc1.waitLeader()
	dc2.waitLeader()
	return dc1, dc2
}

// kvTree is every key under prefix on ts with its value (stale read).
func kvTree(t *testing.T, ts *testServer, prefix string) map[string]string {
	t.Helper()
	_, entries, err := ts.Store().KVList(nil, prefix)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		out[e.Key] = string(e.Value)
	}
	return out
}

func sameTree(a, b map[string]string) error {
	for k, v := range a {
		if b[k] != v {
			return fmt.Errorf("%s: %q vs %q", k, v, b[k])
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			return fmt.Errorf("%s only on one side", k)
		}
	}
	return nil
}

// replicatedView is what dc2 should hold: dc1's app/ minus app/secret/.
func replicatedView(t *testing.T, ts *testServer) map[string]string {
	want := kvTree(t, ts, "app/")
	for k := range want {
		if strings.HasPrefix(k, "app/secret/") {
			delete(want, k)
		}
	}
	return want
}

func status(t *testing.T, ts *testServer) *pb.KVReplicationStatus {
	t.Helper()
	var st pb.KVReplicationStatus
	if err := call(ts, MethodKVReplicationStatus, &pb.KVReplicationStatusRequest{}, &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

func put(t *testing.T, ts *testServer, key, value string) {
	t.Helper()
	var resp pb.KVApplyResponse
	if err := call(ts, MethodKVApply, kvSet(key, value), &resp); err != nil || !resp.Ok {
		t.Fatalf("put %s: %v %v", key, resp.Ok, err)
	}
}

func del(t *testing.T, ts *testServer, key string) {
	t.Helper()
	req := &pb.KVApplyRequest{Op: &pb.KVOp{Verb: pb.KVVerb_KV_DELETE, Entry: &pb.KVEntry{Key: key}}}
	if err := call(ts, MethodKVApply, req, &pb.KVApplyResponse{}); err != nil {
		t.Fatalf("delete %s: %v", key, err)
	}
}

// dc2 follows dc1's app/ (not app/secret/, not other/): sets, updates and
// deletes arrive; a partition stops it and after the heal only the
// changed entries are transferred; dc2's local writes under app/ are
// refused; a new leader in either datacenter carries on from the
// replicated progress without a full copy.
func TestKVReplication(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		dc1, dc2 := replicatedPair(t, nil)
		src := dc1.waitLeader()
		for i := range 200 {
			put(t, src, fmt.Sprintf("app/k%03d", i), fmt.Sprintf("v%d", i))
		}
		put(t, src, "app/secret/pw", "hunter2")
		put(t, src, "other/x", "local to dc1")
		for i := range 20 {
			put(t, src, fmt.Sprintf("app/k%03d", i), fmt.Sprintf("v%d-2", i))
			del(t, src, fmt.Sprintf("app/k%03d", 100+i))
		}
		dst := dc2.waitLeader()
		want := replicatedView(t, src)
		if len(want) != 180 {
			t.Fatalf("source holds %d replicated keys", len(want))
		}
		for _, ts := range dc2.servers {
			waitFor(t, "dc2 "+ts.name+" has dc1's app/", func() error { return sameTree(want, replicatedView(t, ts)) })
		}
		if got := kvTree(t, dst, "other/"); len(got) != 0 {
			t.Fatalf("other/ replicated: %v", got)
		}
		st := status(t, dc2.followers(dst)[0])
		if !st.Running || st.Leader != dst.name || st.SourceDatacenter != "dc1" || st.AppliedIndex != st.SourceIndex || st.LagEntries != 0 || st.LagSeconds != 0 {
			t.Fatalf("status through a follower: %+v", st)
		}

		// Local writes under the replicated prefix are refused; excluded
		// and other keys are dc2's own.
		for _, req := range []*pb.KVApplyRequest{
			kvSet("app/x", "local"),
			{Op: &pb.KVOp{Verb: pb.KVVerb_KV_DELETE, Entry: &pb.KVEntry{Key: "app/k000"}}},
			{Op: &pb.KVOp{Verb: pb.KVVerb_KV_DELETE_TREE, Entry: &pb.KVEntry{Key: ""}}},
		} {
			err := call(dc2.followers(dst)[0], MethodKVApply, req, &pb.KVApplyResponse{})
			if !errors.Is(err, rpc.ErrPermissionDenied) || !strings.Contains(err.Error(), `"dc1"`) {
				t.Fatalf("local %s %q: %v", req.Op.Verb, req.Op.Entry.Key, err)
			}
		}
		txn := &pb.TxnRequest{Ops: []*pb.TxnOp{{Op: &pb.TxnOp_Kv{Kv: &pb.KVOp{Verb: pb.KVVerb_KV_SET, Entry: &pb.KVEntry{Key: "app/y"}}}}}}
		if err := call(dst, MethodTxn, txn, &pb.TxnResponse{}); !errors.Is(err, rpc.ErrPermissionDenied) {
			t.Fatalf("local txn under app/: %v", err)
		}
		put(t, dst, "app/secret/local", "mine")
		put(t, dst, "mine/x", "mine")

		// Partition dc2 from dc1: replication stops and lags; after the
		// heal only what changed is transferred.
		before := status(t, dst).EntriesTransferred
		for _, a := range dc1.servers {
			for _, b := range dc2.servers {
				dc1.net.Disconnect(a.addr, b.addr)
			}
		}
		for i := range 15 {
			put(t, src, fmt.Sprintf("app/p%02d", i), "during")
		}
		del(t, src, "app/k000")
		waitFor(t, "an error reported during the partition", func() error {
			if st := status(t, dst); st.LastError == "" || st.LagSeconds < 5 {
				return fmt.Errorf("status %+v", st)
			}
			return nil
		})
		if got := kvTree(t, dst, "app/p"); len(got) != 0 {
			t.Fatalf("changes crossed the partition: %v", got)
		}
		dc1.heal()
		want = replicatedView(t, src)
		waitFor(t, "dc2 caught up after the heal", func() error { return sameTree(want, replicatedView(t, dst)) })
		waitFor(t, "lag back to 0", func() error {
			if st := status(t, dst); st.LagSeconds != 0 || st.LagEntries != 0 {
				return fmt.Errorf("status %+v", st)
			}
			return nil
		})
		if n := status(t, dst).EntriesTransferred - before; n != 16 {
			t.Fatalf("catching up transferred %d entries, want the 16 changed", n)
		}
		if got := kvTree(t, dst, "app/secret/"); got["app/secret/local"] != "mine" || len(got) != 1 {
			t.Fatalf("excluded keys of dc2: %v", got)
		}

		// A new leader in dc2 resumes from the replicated progress.
		dc2.stop(dst)
		dst = dc2.waitLeader()
		put(t, src, "app/after-dc2-leader", "1")
		want = replicatedView(t, src)
		waitFor(t, "replicated after dc2's leader change", func() error { return sameTree(want, replicatedView(t, dst)) })
		if st := status(t, dst); st.EntriesTransferred != 1 || st.FullSyncs != 0 {
			t.Fatalf("the new leader copied again: %+v", st)
		}
		// And a new leader in dc1.
		dc1.stop(src)
		src = dc1.waitLeader()
		put(t, src, "app/after-dc1-leader", "2")
		del(t, src, "app/k001")
		want = replicatedView(t, src)
		waitFor(t, "replicated after dc1's leader change", func() error { return sameTree(want, replicatedView(t, dst)) })
		if st := status(t, dst); st.FullSyncs != 0 {
			t.Fatalf("full copy after dc1's leader change: %+v", st)
		}
	})
}

// Deletes whose tombstones the source reaped while dc2 could not see them
// are still carried out: the source answers with a full copy and dc2
// deletes what it has beyond it.
func TestKVReplicationAfterTombstonesReaped(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		dc1, dc2 := replicatedPair(t, func(c *Config) {
			c.TombstoneTTL, c.TombstoneGCInterval = 2*time.Second, time.Second
		})
		src, dst := dc1.waitLeader(), dc2.waitLeader()
		for i := range 10 {
			put(t, src, fmt.Sprintf("app/k%d", i), "v")
		}
		waitFor(t, "first copy", func() error { return sameTree(replicatedView(t, src), replicatedView(t, dst)) })
		first := status(t, dst)
		for _, a := range dc1.servers {
			for _, b := range dc2.servers {
				dc1.net.Disconnect(a.addr, b.addr)
			}
		}
		for i := range 5 {
			del(t, src, fmt.Sprintf("app/k%d", i))
		}
		put(t, src, "app/k9", "changed")
		waitFor(t, "tombstones reaped in dc1", func() error {
			if n := src.Store().TombstoneCount(); n > 0 {
				return fmt.Errorf("%d tombstones left", n)
			}
			return nil
		})
		dc1.heal()
		waitFor(t, "dc2 caught up", func() error { return sameTree(replicatedView(t, src), replicatedView(t, dst)) })
		if got := kvTree(t, dst, "app/"); len(got) != 5 || got["app/k9"] != "changed" {
			t.Fatalf("dc2 holds %v", got)
		}
		if st := status(t, dst); st.FullSyncs != first.FullSyncs+1 {
			t.Fatalf("full copies: %d before, %+v after", first.FullSyncs, st)
		}
	})
}

func TestValidateKVReplication(t *testing.T) {
	for _, tc := range []struct {
		c    KVReplicationConfig
		want string
	}{
		{KVReplicationConfig{}, ""},
		{KVReplicationConfig{SourceDatacenter: "dc1", Prefixes: []string{"a/"}, Exclude: []string{"a/b/"}}, ""},
		{KVReplicationConfig{Prefixes: []string{"a/"}}, "source_datacenter is required"},
		{KVReplicationConfig{SourceDatacenter: "dc2", Prefixes: []string{"a/"}}, "is this datacenter"},
		{KVReplicationConfig{SourceDatacenter: "dc1"}, "at least one prefix"},
		{KVReplicationConfig{SourceDatacenter: "dc1", Prefixes: []string{""}}, "must not be empty"},
		{KVReplicationConfig{SourceDatacenter: "dc1", Prefixes: []string{"a/"}, Exclude: []string{"b/"}}, "under no replicated prefix"},
	} {
		err := ValidateKVReplication(tc.c, "dc2")
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.c, err, tc.want)
		}
	}
}
