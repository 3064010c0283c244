package dc

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
	"github.com/meridian-io/meridian/wan"
)

// fakeRouter is the WAN router as a test sets it: fixed servers per
// datacenter, nearest first, and a record of the marks.
type fakeRouter struct {
	mu      sync.Mutex
	servers map[string][]wan.Server
	relays  map[string][]wan.Server // by target datacenter
	failed  []string
	healthy []string
}

func (r *fakeRouter) ServersFor(dc string) ([]wan.Server, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.servers[dc]
	if !ok {
		return nil, fmt.Errorf("%w %q", wan.ErrNoPathToDC, dc)
	}
	if len(s) == 0 {
		return nil, fmt.Errorf("%w in %q", wan.ErrNoServers, dc)
	}
	return slices.Clone(s), nil
}

func (r *fakeRouter) RelaysFor(dc string) ([]wan.Server, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.servers[dc]; !ok {
		return nil, fmt.Errorf("%w %q", wan.ErrNoPathToDC, dc)
	}
	return slices.Clone(r.relays[dc]), nil
}

func (r *fakeRouter) MarkFailed(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = append(r.failed, name)
	return nil
}

func (r *fakeRouter) MarkHealthy(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.healthy = append(r.healthy, name)
	return nil
}

func (r *fakeRouter) Datacenters() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []string{"dc1"}
	for dc := range r.servers {
		out = append(out, dc)
	}
	slices.Sort(out[1:])
	return out
}

// A request naming another datacenter goes to that datacenter's nearest
// server over RPC, which answers it as its own; after a transport error a
// read moves on to the next server, a write only if it was surely never
// sent.
func TestRequestsForAnotherDatacenter(t *testing.T) {
	bubble(t, func(t *testing.T) {
		router := &fakeRouter{servers: map[string][]wan.Server{}}
		dc1 := startCluster(t, clusterOpts{servers: 1, router: router})
		dc2 := startCluster(t, clusterOpts{servers: 3, datacenter: "dc2", subnet: 2, net: dc1.net})
		local := dc1.waitLeader()
		remote := dc2.waitLeader()
		// The nearest "server" of dc2 is gone (nothing listens there).
		router.servers["dc2"] = []wan.Server{{Name: "gone.dc2", Addr: "10.0.2.99:8300", Datacenter: "dc2"}}
		for _, ts := range dc2.servers {
			router.servers["dc2"] = append(router.servers["dc2"], wan.Server{Name: ts.name + ".dc2", Addr: ts.addr, Datacenter: "dc2"})
		}
		router.servers["dc3"] = nil

		var put pb.KVApplyResponse
		set := kvSet("where", "dc2")
		set.Write = &pb.WriteOptions{Dc: "dc2"}
		if err := call(local, MethodKVApply, set, &put); err != nil || !put.Ok {
			t.Fatalf("write in dc2 through dc1: %v, %v", put.Ok, err)
		}
		if got := kvValue(t, remote, "where", pb.Consistency_CONSISTENCY_DEFAULT); got != "dc2" {
			t.Fatalf("dc2 reads %q", got)
		}
		if got := kvValue(t, local, "where", pb.Consistency_CONSISTENCY_DEFAULT); got != "" {
			t.Fatalf("dc1 reads %q: the write landed in the wrong datacenter", got)
		}
		var get pb.KVGetResponse
		if err := call(local, MethodKVGet, &pb.KVGetRequest{Key: "where", Query: &pb.QueryOptions{Dc: "dc2"}}, &get); err != nil || len(get.Entries) != 1 {
			t.Fatalf("read in dc2 through dc1: %v, %v", get.Entries, err)
		}
		router.mu.Lock()
		failed, healthy := slices.Clone(router.failed), slices.Clone(router.healthy)
		router.mu.Unlock()
		if !slices.Contains(failed, "gone.dc2") || len(healthy) == 0 {
			t.Fatalf("marks: failed %v, healthy %v", failed, healthy)
		}

		for dc, want := range map[string]error{"dc3": rpc.ErrNoPathToDC, "dc9": rpc.ErrNoPathToDC} {
			err := call(local, MethodKVGet, &pb.KVGetRequest{Key: "k", Query: &pb.QueryOptions{Dc: dc}}, &pb.KVGetResponse{})
			if !errors.Is(err, want) {
				t.Errorf("read in %s: %v, want %v", dc, err, want)
			}
		}
		// Every server of dc2 unreachable: a read fails naming the path.
		dc1.net.Partition(local.addr)
		err := call(local, MethodKVGet, &pb.KVGetRequest{Key: "where", Query: &pb.QueryOptions{Dc: "dc2"}}, &pb.KVGetResponse{})
		if !errors.Is(err, rpc.ErrNoPathToDC) {
			t.Fatalf("read in an unreachable dc2: %v, want %v", err, rpc.ErrNoPathToDC)
		}
		dc1.net.ConnectAll()
		if got := local.Datacenters(); !slices.Equal(got, []string{"dc1", "dc2", "dc3"}) {
			t.Fatalf("datacenters %v", got)
		}
	})
}

// A call to another datacenter still in flight when its server leaves
// routing (gossip declared it failed: a WAN link went dark under an open
// connection) is abandoned within routeCheckInterval, instead of waiting
// for its answer or yamux's keepalive.
func TestCallInFlightAbandonedWhenServerLeavesRouting(t *testing.T) {
	bubble(t, func(t *testing.T) {
		router := &fakeRouter{servers: map[string][]wan.Server{}}
		dc1 := startCluster(t, clusterOpts{servers: 1, router: router})
		dc2 := startCluster(t, clusterOpts{servers: 1, datacenter: "dc2", subnet: 2, net: dc1.net})
		local := dc1.waitLeader()
		remote := dc2.waitLeader()
		router.servers["dc2"] = []wan.Server{{Name: remote.name + ".dc2", Addr: remote.addr, Datacenter: "dc2"}}

		// A blocking read of dc2 that nothing will wake for 5 minutes.
		done := make(chan error, 1)
		start := time.Now()
		go func() {
			q := &pb.QueryOptions{Dc: "dc2", MinIndex: 1 << 40, MaxWaitNanos: int64(5 * time.Minute)}
			done <- call(local, MethodKVGet, &pb.KVGetRequest{Key: "k", Query: q}, &pb.KVGetResponse{})
		}()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("blocking read answered before its server left routing: %v", err)
		default:
		}
		time.Sleep(10 * time.Second) // bubble time: the read keeps waiting
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("blocking read answered after 10 s: %v", err)
		default:
		}
		router.mu.Lock()
		router.servers["dc2"] = nil // gossip: every server of dc2 failed
		router.mu.Unlock()
		left := time.Now()
		err := <-done
		if !errors.Is(err, rpc.ErrNoPathToDC) {
			t.Fatalf("abandoned read: %v, want %v", err, rpc.ErrNoPathToDC)
		}
		if d := time.Since(left); d > routeCheckInterval {
			t.Fatalf("read abandoned %s after its server left routing, want within %s", d, routeCheckInterval)
		}
		if d := time.Since(start); d > time.Minute {
			t.Fatalf("read took %s", d)
		}
	})
}
