package agent_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/internal/testcluster"
)

// One three-server cluster serves every compatibility test of this file.
func cluster(t *testing.T) *testcluster.Cluster {
	t.Helper()
	return testcluster.New(t, testcluster.Options{Servers: 3})
}

func client(t *testing.T, n *testcluster.Node) *api.Client {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: n.HTTPAddr})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConsulAPICompat(t *testing.T) {
	c := cluster(t)
	leader := c.WaitForLeader(10 * time.Second)
	follower := c.Followers()[0]
	lc, fc := client(t, leader), client(t, follower)

	t.Run("KVRoundTripBinaryAndFlags", func(t *testing.T) {
		value := []byte{0, 1, 2, 0xff, '\n', 0}
		// Written through a follower: forwarded to the leader.
		if _, err := fc.KV().Put(&api.KVPair{Key: "bin/key", Value: value, Flags: 42}, nil); err != nil {
			t.Fatal(err)
		}
		pair, meta, err := lc.KV().Get("bin/key", nil)
		if err != nil || pair == nil {
			t.Fatalf("get: %v %v", pair, err)
		}
		if !bytes.Equal(pair.Value, value) || pair.Flags != 42 || pair.CreateIndex == 0 || pair.ModifyIndex != pair.CreateIndex {
			t.Fatalf("pair = %+v", pair)
		}
		if meta.LastIndex != pair.ModifyIndex || !meta.KnownLeader {
			t.Fatalf("meta = %+v", meta)
		}
		if _, err := lc.KV().Delete("bin/key", nil); err != nil {
			t.Fatal(err)
		}
		pair, meta, err = lc.KV().Get("bin/key", nil)
		if err != nil || pair != nil {
			t.Fatalf("after delete: %v %v", pair, err)
		}
		if meta.LastIndex == 0 {
			t.Fatal("404 without an index")
		}
		// Empty value round trips as empty.
		if _, err := lc.KV().Put(&api.KVPair{Key: "empty"}, nil); err != nil {
			t.Fatal(err)
		}
		if pair, _, _ := lc.KV().Get("empty", nil); pair == nil || len(pair.Value) != 0 {
			t.Fatalf("empty value: %+v", pair)
		}
	})

	t.Run("CAS", func(t *testing.T) {
		kv := fc.KV()
		ok, _, err := kv.CAS(&api.KVPair{Key: "cas/k", Value: []byte("v1"), ModifyIndex: 0}, nil)
		if err != nil || !ok {
			t.Fatalf("create-only: %v %v", ok, err)
		}
		ok, _, _ = kv.CAS(&api.KVPair{Key: "cas/k", Value: []byte("v2"), ModifyIndex: 0}, nil)
		if ok {
			t.Fatal("create-only succeeded on an existing key")
		}
		pair, _, _ := kv.Get("cas/k", nil)
		ok, _, _ = kv.CAS(&api.KVPair{Key: "cas/k", Value: []byte("v3"), ModifyIndex: pair.ModifyIndex + 100}, nil)
		if ok {
			t.Fatal("cas with a wrong index succeeded")
		}
		ok, _, err = kv.CAS(&api.KVPair{Key: "cas/k", Value: []byte("v4"), ModifyIndex: pair.ModifyIndex}, nil)
		if err != nil || !ok {
			t.Fatalf("cas with the right index: %v %v", ok, err)
		}
		pair, _, _ = kv.Get("cas/k", nil)
		if string(pair.Value) != "v4" {
			t.Fatalf("value %q", pair.Value)
		}
		ok, _, _ = kv.DeleteCAS(&api.KVPair{Key: "cas/k", ModifyIndex: pair.ModifyIndex - 1}, nil)
		if ok {
			t.Fatal("delete-cas with a wrong index succeeded")
		}
		ok, _, err = kv.DeleteCAS(&api.KVPair{Key: "cas/k", ModifyIndex: pair.ModifyIndex}, nil)
		if err != nil || !ok {
			t.Fatalf("delete-cas: %v %v", ok, err)
		}
	})

	t.Run("ListAndKeys", func(t *testing.T) {
		kv := lc.KV()
		for _, k := range []string{"tree/a", "tree/b/c", "tree/b/d", "tree/e/f/g", "treetop"} {
			if _, err := kv.Put(&api.KVPair{Key: k, Value: []byte(k)}, nil); err != nil {
				t.Fatal(err)
			}
		}
		pairs, _, err := kv.List("tree/", nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range pairs {
			got = append(got, p.Key)
		}
		if want := []string{"tree/a", "tree/b/c", "tree/b/d", "tree/e/f/g"}; !slices.Equal(got, want) {
			t.Fatalf("list = %v, want %v", got, want)
		}
		keys, _, err := kv.Keys("tree/", "/", nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"tree/a", "tree/b/", "tree/e/"}; !slices.Equal(keys, want) {
			t.Fatalf("keys = %v, want %v", keys, want)
		}
		if keys, _, _ := kv.Keys("nothing/", "/", nil); len(keys) != 0 {
			t.Fatalf("keys of an empty prefix = %v", keys)
		}
		if _, err := kv.DeleteTree("tree/", nil); err != nil {
			t.Fatal(err)
		}
		if pairs, _, _ := kv.List("tree/", nil); len(pairs) != 0 {
			t.Fatalf("after delete-tree: %v", pairs)
		}
		if pair, _, _ := kv.Get("treetop", nil); pair == nil {
			t.Fatal("delete-tree took a key outside the prefix")
		}
	})

	t.Run("TxnCommitAndRollback", func(t *testing.T) {
		kv := fc.KV()
		if _, err := kv.Put(&api.KVPair{Key: "txn/x", Value: []byte("old")}, nil); err != nil {
			t.Fatal(err)
		}
		x, _, _ := kv.Get("txn/x", nil)
		ok, resp, _, err := fc.Txn().Txn(api.TxnOps{
			{KV: &api.KVTxnOp{Verb: api.KVSet, Key: "txn/a", Value: []byte("1")}},
			{KV: &api.KVTxnOp{Verb: api.KVCAS, Key: "txn/x", Value: []byte("new"), Index: x.ModifyIndex}},
			{KV: &api.KVTxnOp{Verb: api.KVGet, Key: "txn/x"}},
		}, nil)
		if err != nil || !ok {
			t.Fatalf("txn: ok=%v err=%v resp=%+v", ok, err, resp)
		}
		if len(resp.Results) != 3 || string(resp.Results[2].KV.Value) != "new" {
			t.Fatalf("results = %+v", resp.Results)
		}
		ok, resp, _, err = fc.Txn().Txn(api.TxnOps{
			{KV: &api.KVTxnOp{Verb: api.KVSet, Key: "txn/b", Value: []byte("1")}},
			{KV: &api.KVTxnOp{Verb: api.KVDelete, Key: "txn/a"}},
			{KV: &api.KVTxnOp{Verb: api.KVCheckIndex, Key: "txn/x", Index: 1}},
		}, nil)
		if err != nil || ok {
			t.Fatalf("failing txn: ok=%v err=%v", ok, err)
		}
		if len(resp.Errors) != 1 || resp.Errors[0].OpIndex != 2 || !strings.Contains(resp.Errors[0].What, "failed index check") {
			t.Fatalf("errors = %+v", resp.Errors)
		}
		if p, _, _ := kv.Get("txn/b", nil); p != nil {
			t.Fatal("rolled-back txn left txn/b")
		}
		if p, _, _ := kv.Get("txn/a", nil); p == nil {
			t.Fatal("rolled-back txn deleted txn/a")
		}
	})

	t.Run("BlockingGetWakesOnWrite", func(t *testing.T) {
		kv := fc.KV()
		if _, err := kv.Put(&api.KVPair{Key: "watch/k", Value: []byte("1")}, nil); err != nil {
			t.Fatal(err)
		}
		_, meta, err := kv.Get("watch/k", nil)
		if err != nil {
			t.Fatal(err)
		}
		type result struct {
			pair *api.KVPair
			meta *api.QueryMeta
			err  error
		}
		done := make(chan result, 1)
		go func() {
			p, m, err := kv.Get("watch/k", &api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 30 * time.Second})
			done <- result{p, m, err}
		}()
		// The blocked query must not return before the write.
		select {
		case r := <-done:
			t.Fatalf("blocking get returned before any write: %+v", r)
		case <-time.After(200 * time.Millisecond):
		}
		start := time.Now()
		if _, err := lc.KV().Put(&api.KVPair{Key: "watch/k", Value: []byte("2")}, nil); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-done:
			if r.err != nil || string(r.pair.Value) != "2" || r.meta.LastIndex <= meta.LastIndex {
				t.Fatalf("woke with %+v %+v %v", r.pair, r.meta, r.err)
			}
			t.Logf("woke %s after the write", time.Since(start))
		case <-time.After(10 * time.Second):
			t.Fatal("blocking get did not wake on the write")
		}
	})

	t.Run("BlockingGetTimesOutWithSameIndex", func(t *testing.T) {
		kv := lc.KV()
		if _, err := kv.Put(&api.KVPair{Key: "quiet/k", Value: []byte("1")}, nil); err != nil {
			t.Fatal(err)
		}
		_, meta, _ := kv.Get("quiet/k", nil)
		start := time.Now()
		_, meta2, err := kv.Get("quiet/k", &api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 400 * time.Millisecond})
		elapsed := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		if meta2.LastIndex != meta.LastIndex {
			t.Fatalf("index moved %d -> %d with no write", meta.LastIndex, meta2.LastIndex)
		}
		// wait plus at most 1/16 jitter, plus scheduling slack.
		if elapsed < 400*time.Millisecond || elapsed > 3*time.Second {
			t.Fatalf("returned after %s, want about 400ms", elapsed)
		}
	})

	t.Run("ConsistencyModes", func(t *testing.T) {
		if _, err := lc.KV().Put(&api.KVPair{Key: "modes/k", Value: []byte("v")}, nil); err != nil {
			t.Fatal(err)
		}
		p, meta, err := fc.KV().Get("modes/k", &api.QueryOptions{RequireConsistent: true})
		if err != nil || p == nil || string(p.Value) != "v" || !meta.KnownLeader {
			t.Fatalf("consistent: %+v %+v %v", p, meta, err)
		}
		// A stale read on a follower may lag; it converges and says how
		// far behind it is.
		testcluster.WaitFor(t, 5*time.Second, func() error {
			p, meta, err := fc.KV().Get("modes/k", &api.QueryOptions{AllowStale: true})
			if err != nil {
				return err
			}
			if p == nil {
				return errors.New("stale read does not see the key yet")
			}
			if !meta.KnownLeader {
				return errors.New("follower does not know the leader")
			}
			return nil
		})
	})

	t.Run("StatusAndOperator", func(t *testing.T) {
		leaderAddr, err := fc.Status().Leader()
		if err != nil || leaderAddr != leader.RPCAddr {
			t.Fatalf("status/leader = %q %v, want %s", leaderAddr, err, leader.RPCAddr)
		}
		peers, err := fc.Status().Peers()
		if err != nil || len(peers) != 3 {
			t.Fatalf("peers = %v %v", peers, err)
		}
		conf, err := fc.Operator().RaftGetConfiguration(nil)
		if err != nil || len(conf.Servers) != 3 {
			t.Fatalf("raft configuration = %+v %v", conf, err)
		}
		leaders := 0
		for _, s := range conf.Servers {
			if s.Leader {
				leaders++
				if s.Node != leader.Name {
					t.Fatalf("leader node %q, want %q", s.Node, leader.Name)
				}
			}
		}
		if leaders != 1 {
			t.Fatalf("%d leaders in %+v", leaders, conf.Servers)
		}
		self, err := fc.Agent().Self()
		if err != nil || self["Config"]["Datacenter"] != "dc1" || self["Config"]["NodeName"] != follower.Name {
			t.Fatalf("self = %v %v", self["Config"], err)
		}
		name, err := fc.Agent().NodeName()
		if err != nil || name != follower.Name {
			t.Fatalf("NodeName = %q %v", name, err)
		}
		members, err := fc.Agent().Members(false)
		if err != nil || len(members) != 3 {
			t.Fatalf("members = %v %v", members, err)
		}
	})
}

func TestKVKeysAreVerbatim(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 1})
	cl := client(t, c.Nodes[0])
	for _, k := range []string{"a//b", "a/./b", "a/..b", "trailing/"} {
		if _, err := cl.KV().Put(&api.KVPair{Key: k, Value: []byte(k)}, nil); err != nil {
			t.Fatalf("put %q: %v", k, err)
		}
		p, _, err := cl.KV().Get(k, nil)
		if err != nil || p == nil || p.Key != k || string(p.Value) != k {
			t.Fatalf("get %q = %+v %v", k, p, err)
		}
	}
	if p, _, _ := cl.KV().Get("a/b", nil); p != nil {
		t.Fatalf("a//b was stored as a/b: %+v", p)
	}
	// A ".." segment is refused before routing (disable_kv_key_validation
	// lets it through).
	_, err := cl.KV().Put(&api.KVPair{Key: "a/../b", Value: []byte("x")}, nil)
	if err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("put a/../b: %v, want a 400", err)
	}
}
