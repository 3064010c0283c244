package dc

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/meridian-io/meridian/internal/bubble"
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

// set makes servers the datacenter's servers (nil: all failed); servers of
// a cluster may be asking already.
func (r *fakeRouter) set(dc string, servers ...wan.Server) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.servers[dc] = servers
}

// add appends a cluster's servers to the datacenter's.
func (r *fakeRouter) add(dc string, c *testCluster) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ts := range c.servers {
		r.servers[dc] = append(r.servers[dc], wan.Server{Name: ts.name + "." + dc, Addr: ts.addr, Datacenter: dc})
	}
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
	bubble.Test(t, func(t *testing.T) {
		router := &fakeRouter{servers: map[string][]wan.Server{}}
		dc1 := startCluster(t, clusterOpts{servers: 1, router: router})
		dc2 := startCluster(t, clusterOpts{servers: 3, datacenter: "dc2", subnet: 2, net: dc1.net})
		local := dc1.waitLeader()
		remote := dc2.waitLeader()
		// The nearest "server" of dc2 is gone (nothing listens there).
		router.set("dc2", wan.Server{Name: "gone.dc2", Addr: "10.0.2.99:8300", Datacenter: "dc2"})
		router.add("dc2", dc2)
		router.set("dc3")

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
	bubble.Test(t, func(t *testing.T) {
		router := &fakeRouter{servers: map[string][]wan.Server{}}
		dc1 := startCluster(t, clusterOpts{servers: 1, router: router})
		dc2 := startCluster(t, clusterOpts{servers: 1, datacenter: "dc2", subnet: 2, net: dc1.net})
		local := dc1.waitLeader()
		remote := dc2.waitLeader()
		router.set("dc2", wan.Server{Name: remote.name + ".dc2", Addr: remote.addr, Datacenter: "dc2"})

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
		router.set("dc2") // gossip: every server of dc2 failed
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

// Every server of a datacenter stalls under open connections (stopped
// processes, a WAN link gone dark: nothing closes, nothing refuses, gossip
// has not noticed): a request naming it fails within 5 s, not after the
// RPC hold timeout, because the pool's pings close the dead sessions and
// forwardDC stops trying after failoverWindow. A blocking read on healthy
// links meanwhile waits its full 30 s, far past the ping bounds, and the
// datacenter answers again once the links do.
func TestStalledDatacenterFailsFast(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		router := &fakeRouter{servers: map[string][]wan.Server{}}
		dc1 := startCluster(t, clusterOpts{servers: 1, router: router})
		dc2 := startCluster(t, clusterOpts{servers: 3, datacenter: "dc2", subnet: 2, net: dc1.net})
		local := dc1.waitLeader()
		dc2.waitLeader()
		router.add("dc2", dc2)
		const bound = 5 * time.Second

		start := time.Now()
		q := &pb.QueryOptions{Dc: "dc2", MinIndex: 1 << 40, MaxWaitNanos: int64(30 * time.Second)}
		if err := call(local, MethodKVGet, &pb.KVGetRequest{Key: "k", Query: q}, &pb.KVGetResponse{}); err != nil {
			t.Fatalf("blocking read of dc2 on healthy links: %v", err)
		}
		if took := time.Since(start); took < 30*time.Second {
			t.Fatalf("blocking read of dc2 answered after %s, want its full 30 s", took)
		}

		stall := func(on bool) {
			for _, ts := range dc2.servers {
				if on {
					dc1.net.Stall(local.addr, ts.addr)
					dc1.net.Stall(ts.addr, local.addr)
				} else {
					dc1.net.Unstall(local.addr, ts.addr)
					dc1.net.Unstall(ts.addr, local.addr)
				}
			}
		}
		stall(true)
		start = time.Now()
		err := call(local, MethodKVGet, &pb.KVGetRequest{Key: "k", Query: &pb.QueryOptions{Dc: "dc2"}}, &pb.KVGetResponse{})
		if took := time.Since(start); !errors.Is(err, rpc.ErrNoPathToDC) || took > bound {
			t.Fatalf("read of a stalled dc2: %v after %s, want %v within %s", err, took, rpc.ErrNoPathToDC, bound)
		} else {
			t.Logf("read of a stalled dc2 failed after %s: %v", took, err)
		}
		// A write was sent, so it is not tried again elsewhere, but it
		// fails as fast.
		start = time.Now()
		set := kvSet("k", "v")
		set.Write = &pb.WriteOptions{Dc: "dc2"}
		err = call(local, MethodKVApply, set, &pb.KVApplyResponse{})
		if took := time.Since(start); !errors.Is(err, rpc.ErrTransport) || took > bound {
			t.Fatalf("write to a stalled dc2: %v after %s, want a transport error within %s", err, took, bound)
		} else {
			t.Logf("write to a stalled dc2 failed after %s: %v", took, err)
		}
		router.mu.Lock()
		failed := slices.Clone(router.failed)
		router.mu.Unlock()
		if len(failed) < 2 {
			t.Fatalf("servers marked failed: %v, want the stalled ones tried", failed)
		}

		stall(false)
		var get pb.KVGetResponse
		if err := call(local, MethodKVGet, &pb.KVGetRequest{Key: "k", Query: &pb.QueryOptions{Dc: "dc2"}}, &get); err != nil {
			t.Fatalf("read of dc2 after the links came back: %v", err)
		}
	})
}
