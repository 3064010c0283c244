package dc

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/meridian-io/meridian/internal/bubble"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
	"github.com/meridian-io/meridian/store"
)

// The catalog, health, txn and operator endpoints answer on a follower
// (forwarding writes, reading at the leader's index) what they would on
// the leader, and refuse bad input before it reaches the log.
func TestEndpointsOnAFollower(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		leader := c.waitLeader()
		f := c.followers(leader)[0]
		reg := &pb.RegisterRequest{
			Node:    &pb.Node{Node: "web-1", Address: "192.0.2.10", Meta: map[string]string{"rack": "a"}},
			Service: &pb.Service{Id: "web", Service: "web", Tags: []string{"v1", "blue"}, Port: 80},
			Checks:  []*pb.HealthCheck{{CheckId: "web-alive", Name: "web", ServiceId: "web", Status: store.HealthCritical}},
		}
		if err := call(f, MethodCatalogRegister, reg, &pb.WriteResponse{}); err != nil {
			t.Fatal(err)
		}
		for name, bad := range map[string]*pb.RegisterRequest{
			"no node":     {},
			"no address":  {Node: &pb.Node{Node: "x"}},
			"no service":  {Node: &pb.Node{Node: "x", Address: "a"}, Service: &pb.Service{}},
			"bad port":    {Node: &pb.Node{Node: "x", Address: "a"}, Service: &pb.Service{Service: "s", Port: 70000}},
			"no check id": {Node: &pb.Node{Node: "x", Address: "a"}, Checks: []*pb.HealthCheck{{}}},
			"bad status":  {Node: &pb.Node{Node: "x", Address: "a"}, Checks: []*pb.HealthCheck{{CheckId: "c", Status: "fine"}}},
			"other node":  {Node: &pb.Node{Node: "x", Address: "a"}, Checks: []*pb.HealthCheck{{CheckId: "c", Node: "y"}}},
		} {
			if err := call(f, MethodCatalogRegister, bad, &pb.WriteResponse{}); !errors.Is(err, rpc.ErrBadRequest) {
				t.Errorf("register %s: %v, want %v", name, err, rpc.ErrBadRequest)
			}
		}

		var nodes pb.NodesResponse
		if err := call(f, MethodCatalogNodes, &pb.NodesRequest{Q: &pb.CatalogQuery{NodeMeta: map[string]string{"rack": "a"}}}, &nodes); err != nil || len(nodes.Nodes) != 1 || nodes.Meta.Index == 0 {
			t.Fatalf("nodes with rack=a: %v, %v", nodes.Nodes, err)
		}
		var services pb.ServicesResponse
		if err := call(f, MethodCatalogServices, &pb.ServicesRequest{}, &services); err != nil || services.Services["web"] == nil || services.Services[serverServiceName] == nil {
			t.Fatalf("services: %v, %v", services.Services, err)
		}
		for _, tc := range []struct {
			req  *pb.ServiceNodesRequest
			want int
		}{
			{&pb.ServiceNodesRequest{Service: "web"}, 1},
			{&pb.ServiceNodesRequest{Service: "web", Tags: []string{"BLUE", "v1"}}, 1},
			{&pb.ServiceNodesRequest{Service: "web", Tags: []string{"green"}}, 0},
			{&pb.ServiceNodesRequest{Service: "web", WithChecks: true}, 1},
			{&pb.ServiceNodesRequest{Service: "web", PassingOnly: true}, 0},
			{&pb.ServiceNodesRequest{Service: "web", Q: &pb.CatalogQuery{NodeMeta: map[string]string{"rack": "b"}}}, 0},
		} {
			var resp pb.ServiceNodesResponse
			if err := call(f, MethodCatalogServiceNodes, tc.req, &resp); err != nil || len(resp.Instances) != tc.want {
				t.Errorf("service nodes %v: %d instances (%v), want %d", tc.req, len(resp.Instances), err, tc.want)
			}
			if tc.req.WithChecks && len(resp.Instances) == 1 && len(resp.Instances[0].Checks) == 0 {
				t.Errorf("service nodes with checks: no checks")
			}
		}
		if err := call(f, MethodCatalogServiceNodes, &pb.ServiceNodesRequest{}, &pb.ServiceNodesResponse{}); !errors.Is(err, rpc.ErrBadRequest) {
			t.Errorf("service nodes without a service: %v", err)
		}
		var ns pb.NodeServicesResponse
		if err := call(f, MethodCatalogNodeServices, &pb.NodeServicesRequest{Node: "web-1"}, &ns); err != nil || ns.Node == nil || len(ns.Services) != 1 {
			t.Fatalf("node services: %v %v, %v", ns.Node, ns.Services, err)
		}
		if err := call(f, MethodCatalogNodeServices, &pb.NodeServicesRequest{}, &pb.NodeServicesResponse{}); !errors.Is(err, rpc.ErrBadRequest) {
			t.Errorf("node services without a node: %v", err)
		}
		for _, tc := range []struct {
			req  *pb.ChecksRequest
			want int
		}{
			{&pb.ChecksRequest{Node: "web-1"}, 1},
			{&pb.ChecksRequest{Service: "web"}, 1},
			{&pb.ChecksRequest{State: store.HealthCritical}, 1},
			{&pb.ChecksRequest{State: store.HealthPassing, Q: &pb.CatalogQuery{NodeMeta: map[string]string{"rack": "a"}}}, 0},
		} {
			var resp pb.ChecksResponse
			if err := call(f, MethodHealthChecks, tc.req, &resp); err != nil || len(resp.Checks) != tc.want {
				t.Errorf("checks %v: %d (%v), want %d", tc.req, len(resp.Checks), err, tc.want)
			}
		}
		for _, bad := range []*pb.ChecksRequest{{}, {Node: "a", Service: "b"}, {State: "sleepy"}} {
			if err := call(f, MethodHealthChecks, bad, &pb.ChecksResponse{}); !errors.Is(err, rpc.ErrBadRequest) {
				t.Errorf("checks %v: %v, want %v", bad, err, rpc.ErrBadRequest)
			}
		}
		var dcs pb.DatacentersResponse
		if err := call(f, MethodCatalogDatacenters, &pb.DatacentersRequest{}, &dcs); err != nil || len(dcs.Datacenters) != 1 || dcs.Datacenters[0] != "dc1" {
			t.Fatalf("datacenters: %v, %v", dcs.Datacenters, err)
		}
		if err := call(f, MethodCatalogDeregister, &pb.DeregisterRequest{Node: "web-1", ServiceId: "web"}, &pb.WriteResponse{}); err != nil {
			t.Fatal(err)
		}
		if err := call(f, MethodCatalogDeregister, &pb.DeregisterRequest{}, &pb.WriteResponse{}); !errors.Is(err, rpc.ErrBadRequest) {
			t.Errorf("deregister without a node: %v", err)
		}

		// Transactions: a write goes through the leader, a read-only one is
		// read at the leader's index.
		set := &pb.TxnOp{Op: &pb.TxnOp_Kv{Kv: &pb.KVOp{Verb: pb.KVVerb_KV_SET, Entry: &pb.KVEntry{Key: "t", Value: []byte("1")}}}}
		var txn pb.TxnResponse
		if err := call(f, MethodTxn, &pb.TxnRequest{Ops: []*pb.TxnOp{set}}, &txn); err != nil || len(txn.Errors) != 0 || txn.Index == 0 {
			t.Fatalf("txn write: %v %v, %v", txn.Results, txn.Errors, err)
		}
		get := &pb.TxnOp{Op: &pb.TxnOp_Kv{Kv: &pb.KVOp{Verb: pb.KVVerb_KV_GET, Entry: &pb.KVEntry{Key: "t"}}}}
		var read pb.TxnResponse
		if err := call(f, MethodTxn, &pb.TxnRequest{Ops: []*pb.TxnOp{get}}, &read); err != nil || len(read.Results) != 1 {
			t.Fatalf("txn read: %v %v, %v", read.Results, read.Errors, err)
		}
		for name, ops := range map[string][]*pb.TxnOp{
			"empty":      nil,
			"no kv":      {{}},
			"no verb":    {{Op: &pb.TxnOp_Kv{Kv: &pb.KVOp{Entry: &pb.KVEntry{Key: "k"}}}}},
			"no session": {{Op: &pb.TxnOp_Kv{Kv: &pb.KVOp{Verb: pb.KVVerb_KV_LOCK, Entry: &pb.KVEntry{Key: "k"}}}}},
			"no key":     {{Op: &pb.TxnOp_Kv{Kv: &pb.KVOp{Verb: pb.KVVerb_KV_SET, Entry: &pb.KVEntry{}}}}},
			"bad verb":   {{Op: &pb.TxnOp_Kv{Kv: &pb.KVOp{Verb: 99, Entry: &pb.KVEntry{Key: "k"}}}}},
			"too many":   make([]*pb.TxnOp, store.MaxTxnOps+1),
		} {
			if err := call(f, MethodTxn, &pb.TxnRequest{Ops: ops}, &pb.TxnResponse{}); !errors.Is(err, rpc.ErrBadRequest) {
				t.Errorf("txn %s: %v, want %v", name, err, rpc.ErrBadRequest)
			}
		}
		for name, op := range map[string]*pb.KVOp{
			"none":       nil,
			"no key":     {Verb: pb.KVVerb_KV_SET, Entry: &pb.KVEntry{}},
			"lock alone": {Verb: pb.KVVerb_KV_LOCK, Entry: &pb.KVEntry{Key: "k"}},
			"lock nokey": {Verb: pb.KVVerb_KV_LOCK, Entry: &pb.KVEntry{}},
			"a read":     {Verb: pb.KVVerb_KV_GET, Entry: &pb.KVEntry{Key: "k"}},
		} {
			if err := call(f, MethodKVApply, &pb.KVApplyRequest{Op: op}, &pb.KVApplyResponse{}); !errors.Is(err, rpc.ErrBadRequest) {
				t.Errorf("kv write %s: %v, want %v", name, err, rpc.ErrBadRequest)
			}
		}
		var tree pb.KVApplyResponse
		if err := call(f, MethodKVApply, &pb.KVApplyRequest{Op: &pb.KVOp{Verb: pb.KVVerb_KV_DELETE_TREE, Entry: &pb.KVEntry{Key: "t"}}}, &tree); err != nil || !tree.Ok {
			t.Fatalf("delete tree: %v, %v", tree.Ok, err)
		}
		var keys pb.KVGetResponse
		if err := call(f, MethodKVGet, &pb.KVGetRequest{KeysOnly: true}, &keys); err != nil {
			t.Fatal(err)
		}

		// Another datacenter has no path yet; an unknown method is named.
		if err := call(f, MethodKVGet, &pb.KVGetRequest{Key: "k", Query: &pb.QueryOptions{Dc: "dc9"}}, &pb.KVGetResponse{}); !errors.Is(err, rpc.ErrNoPathToDC) {
			t.Errorf("read in dc9: %v, want %v", err, rpc.ErrNoPathToDC)
		}
		if err := call(f, MethodKVApply, &pb.KVApplyRequest{Write: &pb.WriteOptions{Dc: "dc9"}, Op: kvSet("k", "v").Op}, &pb.KVApplyResponse{}); !errors.Is(err, rpc.ErrNoPathToDC) {
			t.Errorf("write in dc9: %v, want %v", err, rpc.ErrNoPathToDC)
		}
		if err := call(f, MethodStatusLeader, &pb.StatusRequest{Dc: "dc9"}, &pb.StatusLeaderResponse{}); !errors.Is(err, rpc.ErrNoPathToDC) {
			t.Errorf("status in dc9: %v, want %v", err, rpc.ErrNoPathToDC)
		}
		if err := call(f, "KV.Nope", &pb.KVGetRequest{}, &pb.KVGetResponse{}); !errors.Is(err, rpc.ErrUnknownMethod) {
			t.Errorf("unknown method: %v", err)
		}

		// Operator: the configuration is read from the leader; a peer is
		// removed by id or address, and only one that exists.
		var conf pb.RaftConfigurationResponse
		if err := call(f, MethodRaftConfiguration, &pb.RaftConfigurationRequest{}, &conf); err != nil || len(conf.Servers) != 3 {
			t.Fatalf("raft configuration: %v, %v", conf.Servers, err)
		}
		leaders := 0
		for _, s := range conf.Servers {
			if s.Leader {
				leaders++
			}
			if s.Node == "" || !s.Voter {
				t.Errorf("server %v", s)
			}
		}
		if leaders != 1 {
			t.Errorf("%d leaders in the configuration", leaders)
		}
		for _, bad := range []*pb.RaftRemovePeerRequest{{}, {Id: "a", Address: "b"}} {
			if err := call(f, MethodRaftRemovePeer, bad, &pb.RaftRemovePeerResponse{}); !errors.Is(err, rpc.ErrBadRequest) {
				t.Errorf("remove peer %v: %v", bad, err)
			}
		}
		if err := call(f, MethodRaftRemovePeer, &pb.RaftRemovePeerRequest{Id: "nobody"}, &pb.RaftRemovePeerResponse{}); !errors.Is(err, rpc.ErrNotFound) {
			t.Errorf("remove unknown peer: %v, want %v", err, rpc.ErrNotFound)
		}
		gone := c.followers(leader)[1]
		if err := call(f, MethodRaftRemovePeer, &pb.RaftRemovePeerRequest{Address: gone.addr}, &pb.RaftRemovePeerResponse{}); err != nil {
			t.Fatalf("remove %s: %v", gone.name, err)
		}
		var peers pb.StatusPeersResponse
		if err := call(leader, MethodStatusPeers, &pb.StatusRequest{}, &peers); err != nil || len(peers.Addresses) != 2 {
			t.Fatalf("peers after removal: %v, %v", peers.Addresses, err)
		}
		if stats := f.Stats(); stats["state"] != "Follower" {
			t.Errorf("follower's raft stats say %q", stats["state"])
		}
	})
}

// A blocking read returns as soon as what it read changes past min_index,
// or with the current result when its wait runs out.
func TestBlockingQuery(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		leader := c.waitLeader()
		f := c.followers(leader)[0]
		var set pb.KVApplyResponse
		if err := call(leader, MethodKVApply, kvSet("watched", "1"), &set); err != nil {
			t.Fatal(err)
		}
		got := make(chan *pb.KVGetResponse, 1)
		start := time.Now()
		go func() {
			var resp pb.KVGetResponse
			if err := call(f, MethodKVGet, &pb.KVGetRequest{Key: "watched", Query: &pb.QueryOptions{MinIndex: set.Index, MaxWaitNanos: int64(time.Minute)}}, &resp); err != nil {
				t.Error(err)
			}
			got <- &resp
		}()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		select {
		case r := <-got:
			t.Fatalf("blocking read returned before a change: %v", r)
		default:
		}
		var second pb.KVApplyResponse
		if err := call(leader, MethodKVApply, kvSet("watched", "2"), &second); err != nil {
			t.Fatal(err)
		}
		r := <-got
		if len(r.Entries) != 1 || string(r.Entries[0].Value) != "2" || r.Meta.Index < second.Index {
			t.Fatalf("blocking read woke with %v", r)
		}
		if took := time.Since(start); took > 11*time.Second {
			t.Fatalf("woke after %s", took)
		}

		// No change: the wait (plus up to 1/16 jitter) runs out, no error.
		start = time.Now()
		var idle pb.KVGetResponse
		if err := call(f, MethodKVGet, &pb.KVGetRequest{Key: "watched", Query: &pb.QueryOptions{MinIndex: r.Meta.Index, MaxWaitNanos: int64(30 * time.Second)}}, &idle); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took < 30*time.Second || took > 30*time.Second+30*time.Second/16+time.Second {
			t.Fatalf("idle blocking read returned after %s, want 30s (+1/16)", took)
		}
		// The caller's context ends a blocking read.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := f.RPC(ctx, MethodKVGet, &pb.KVGetRequest{Key: "watched", Query: &pb.QueryOptions{MinIndex: r.Meta.Index}}, &pb.KVGetResponse{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("blocking read past its context: %v", err)
		}
	})
}

// A default blocking query confirms the leadership once, before its first
// read; waking it costs no quorum round (what it reads then is newer than
// what the round covered). A ?consistent one confirms before every read.
func TestBlockingQueryLinearizesOnce(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		leader := c.waitLeader()
		var set pb.KVApplyResponse
		for _, k := range []string{"plain", "strict"} {
			if err := call(leader, MethodKVApply, kvSet(k, "1"), &set); err != nil {
				t.Fatal(err)
			}
		}
		got := make(chan *pb.KVGetResponse, 2)
		watch := func(key string, mode pb.Consistency) {
			var resp pb.KVGetResponse
			if err := call(leader, MethodKVGet, &pb.KVGetRequest{Key: key, Query: &pb.QueryOptions{
				MinIndex: set.Index, MaxWaitNanos: int64(time.Minute), Consistency: mode}}, &resp); err != nil {
				t.Error(err)
			}
			got <- &resp
		}
		for _, w := range []struct {
			key  string
			mode pb.Consistency
		}{{"plain", pb.Consistency_CONSISTENCY_DEFAULT}, {"strict", pb.Consistency_CONSISTENCY_CONSISTENT}} {
			before := leader.verifier.rounds.Load()
			go watch(w.key, w.mode)
			synctest.Wait()
			if leader.BlockingQueries() != 1 {
				t.Fatalf("%s: %d blocking queries waiting, want 1", w.key, leader.BlockingQueries())
			}
			if n := leader.verifier.rounds.Load() - before; n != 1 {
				t.Fatalf("%s: %d leadership rounds before the first read, want 1", w.key, n)
			}
			before = leader.verifier.rounds.Load()
			var changed pb.KVApplyResponse
			if err := call(leader, MethodKVApply, kvSet(w.key, "2"), &changed); err != nil {
				t.Fatal(err)
			}
			r := <-got
			if len(r.Entries) != 1 || string(r.Entries[0].Value) != "2" || r.Meta.Index < changed.Index {
				t.Fatalf("%s: woke with %v", w.key, r)
			}
			want := uint64(0)
			if w.mode == pb.Consistency_CONSISTENCY_CONSISTENT {
				want = 1
			}
			if n := leader.verifier.rounds.Load() - before; n != want {
				t.Fatalf("%s: %d leadership rounds after the wake, want %d", w.key, n, want)
			}
		}
	})
}
