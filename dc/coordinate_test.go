package dc

import (
	"errors"
	"math"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/raft"
	"github.com/hashicorp/serf/coordinate"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/internal/bubble"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
	"github.com/meridian-io/meridian/wan"
)

func testCoord(x float64) *pb.Coordinate {
	return &pb.Coordinate{Vec: []float64{x, 0, 0, 0, 0, 0, 0, 0}, Error: 1.5, Height: 1e-5}
}

// clientMembers are LAN members besides the servers, which the leader
// makes catalog nodes.
func clientMembers(names ...string) []Member {
	var out []Member
	for i, n := range names {
		out = append(out, Member{Name: n, ID: n + "-id", Datacenter: "dc1", Address: "10.0.9." + string(rune('1'+i)), Status: StatusAlive})
	}
	return out
}

func waitCatalogNodes(t *testing.T, ts *testServer, n int) {
	t.Helper()
	waitFor(t, "catalog nodes", func() error {
		var resp pb.NodesResponse
		if err := call(ts, MethodCatalogNodes, &pb.NodesRequest{}, &resp); err != nil {
			return err
		}
		if len(resp.Nodes) < n {
			return errors.New("not yet")
		}
		return nil
	})
}

// Updates sent to any server go to the leader, which writes them every
// CoordinateUpdatePeriod, many in one log entry, and every server reads
// them; what goes beyond the batch limits is refused or discarded.
func TestCoordinateUpdatesAreBatched(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := startCluster(t, clusterOpts{servers: 3, members: clientMembers("c1", "c2", "c3", "c4", "c5"), tune: func(cfg *Config) {
			cfg.CoordinateUpdatePeriod = 5 * time.Second
			cfg.CoordinateUpdateBatchSize = 2
			cfg.CoordinateUpdateMaxBatches = 2
		}})
		leader := c.waitLeader()
		follower := c.followers(leader)[0]
		waitCatalogNodes(t, leader, 8)

		for i, node := range []string{"c1", "c2", "c3"} {
			req := &pb.CoordinateUpdateRequest{Node: node, Coord: testCoord(float64(i) / 1000)}
			if err := call(follower, MethodCoordinateUpdate, req, &pb.CoordinateUpdateResponse{}); err != nil {
				t.Fatalf("update %s: %v", node, err)
			}
		}
		// A newer update of c1 replaces the queued one; c4 fills the
		// queue (2 batches of 2); c5 is one too many.
		if err := call(leader, MethodCoordinateUpdate, &pb.CoordinateUpdateRequest{Node: "c1", Coord: testCoord(0.5)}, &pb.CoordinateUpdateResponse{}); err != nil {
			t.Fatal(err)
		}
		if err := call(leader, MethodCoordinateUpdate, &pb.CoordinateUpdateRequest{Node: "c4", Coord: testCoord(0.4)}, &pb.CoordinateUpdateResponse{}); err != nil {
			t.Fatal(err)
		}
		err := call(leader, MethodCoordinateUpdate, &pb.CoordinateUpdateRequest{Node: "c5", Coord: testCoord(0.4)}, &pb.CoordinateUpdateResponse{})
		if !errors.Is(err, rpc.ErrTooLarge) {
			t.Fatalf("update beyond the queue's limit: %v, want %v", err, rpc.ErrTooLarge)
		}
		// Nothing is written before the period ends.
		var list pb.CoordinateNodesResponse
		if err := call(follower, MethodCoordinateNodes, &pb.CoordinateNodesRequest{}, &list); err != nil || len(list.Coordinates) != 0 {
			t.Fatalf("coordinates before the flush: %v, %v", list.Coordinates, err)
		}
		// A blocking read wakes when the batch lands.
		type result struct {
			resp *pb.CoordinateNodesResponse
			err  error
		}
		woke := make(chan result, 1)
		go func() {
			var resp pb.CoordinateNodesResponse
			err := call(follower, MethodCoordinateNodes, &pb.CoordinateNodesRequest{Query: &pb.QueryOptions{MinIndex: list.Meta.Index, MaxWaitNanos: int64(time.Minute)}}, &resp)
			woke <- result{&resp, err}
		}()
		var got result
		select {
		case got = <-woke:
		case <-time.After(30 * time.Second):
			t.Fatal("blocking read did not wake within 30s of fake time")
		}
		if got.err != nil || len(got.resp.Coordinates) == 0 || got.resp.Meta.Index <= list.Meta.Index {
			t.Fatalf("woken read: %v, %v", got.resp, got.err)
		}
		waitFor(t, "every update stored", func() error {
			var all pb.CoordinateNodesResponse
			if err := call(follower, MethodCoordinateNodes, &pb.CoordinateNodesRequest{Query: &pb.QueryOptions{Consistency: pb.Consistency_CONSISTENCY_STALE}}, &all); err != nil {
				return err
			}
			if len(all.Coordinates) != 4 {
				return errors.New("not yet")
			}
			return nil
		})
		var all pb.CoordinateNodesResponse
		if err := call(follower, MethodCoordinateNodes, &pb.CoordinateNodesRequest{}, &all); err != nil {
			t.Fatal(err)
		}
		var nodes []string
		indexes := map[uint64]int{}
		for _, e := range all.Coordinates {
			nodes = append(nodes, e.Node)
			indexes[e.ModifyIndex]++
		}
		if !slices.Equal(nodes, []string{"c1", "c2", "c3", "c4"}) || all.Coordinates[0].Coord.Vec[0] != 0.5 {
			t.Fatalf("stored %v (c1 %v)", nodes, all.Coordinates[0].Coord)
		}
		if len(indexes) != 2 {
			t.Fatalf("4 updates in batches of 2 took %d log entries (%v), want 2", len(indexes), indexes)
		}
		var one pb.CoordinateNodesResponse
		if err := call(leader, MethodCoordinateNodes, &pb.CoordinateNodesRequest{Node: "C3"}, &one); err != nil || len(one.Coordinates) != 1 || one.Coordinates[0].Node != "c3" {
			t.Fatalf("c3's coordinate: %v, %v", one.Coordinates, err)
		}
	})
}

func TestCoordinateUpdateBadInput(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 1, nil)
		leader := c.waitLeader()
		for name, req := range map[string]*pb.CoordinateUpdateRequest{
			"no node":       {Coord: testCoord(1)},
			"no coordinate": {Node: "s1"},
			"empty vector":  {Node: "s1", Coord: &pb.Coordinate{}},
			"nan":           {Node: "s1", Coord: &pb.Coordinate{Vec: []float64{math.NaN()}}},
			"infinite":      {Node: "s1", Coord: &pb.Coordinate{Vec: []float64{1}, Height: math.Inf(1)}},
		} {
			if err := call(leader, MethodCoordinateUpdate, req, &pb.CoordinateUpdateResponse{}); !errors.Is(err, rpc.ErrBadRequest) {
				t.Errorf("%s: %v, want %v", name, err, rpc.ErrBadRequest)
			}
		}
		if n := len(leader.coords.take()); n != 0 {
			t.Fatalf("%d bad updates queued", n)
		}
	})
}

type fakeWAN []wan.DatacenterCoordinates

func (f fakeWAN) DatacenterCoordinates() []wan.DatacenterCoordinates { return f }

func TestCoordinateDatacenters(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c1 := coordinate.NewCoordinate(coordinate.DefaultConfig())
		c1.Vec[0] = 0.25
		w := fakeWAN{
			{Datacenter: "dc1", Coordinates: []wan.NodeCoordinate{{Node: "s1.dc1", Coord: c1}}},
			{Datacenter: "dc2", Coordinates: []wan.NodeCoordinate{{Node: "a.dc2", Coord: c1}, {Node: "b.dc2", Coord: c1}}},
		}
		c := startCluster(t, clusterOpts{servers: 1, wan: w})
		leader := c.waitLeader()
		var resp pb.CoordinateDatacentersResponse
		if err := call(leader, MethodCoordinateDatacenters, &pb.CoordinateDatacentersRequest{}, &resp); err != nil {
			t.Fatal(err)
		}
		if len(resp.Datacenters) != 2 || resp.Datacenters[1].Datacenter != "dc2" || resp.Datacenters[1].AreaId != "WAN" ||
			len(resp.Datacenters[1].Coordinates) != 2 || resp.Datacenters[0].Coordinates[0].Coord.Vec[0] != 0.25 {
			t.Fatalf("datacenters %v", resp.Datacenters)
		}
	})
}

type recordedEvents struct {
	mu     sync.Mutex
	events []*pb.UserEvent
}

func (r *recordedEvents) FireUserEvent(e *pb.UserEvent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

// An event for another datacenter is fired by a server of that
// datacenter, into its own LAN pool.
func TestEventFireInAnotherDatacenter(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		router := &fakeRouter{servers: map[string][]wan.Server{}}
		local, remote := &recordedEvents{}, &recordedEvents{}
		dc1 := startCluster(t, clusterOpts{servers: 1, router: router, events: local})
		dc2 := startCluster(t, clusterOpts{servers: 1, datacenter: "dc2", subnet: 2, net: dc1.net, events: remote})
		s1 := dc1.waitLeader()
		s2 := dc2.waitLeader()
		router.set("dc2", wan.Server{Name: s2.name + ".dc2", Addr: s2.addr, Datacenter: "dc2"})

		ev := &pb.UserEvent{Id: "e1", Name: "deploy", Payload: []byte("v2"), Version: 1}
		if err := call(s1, MethodEventFire, &pb.EventFireRequest{Dc: "dc2", Event: ev}, &pb.EventFireResponse{}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if len(local.events) != 0 || len(remote.events) != 1 || remote.events[0].Name != "deploy" || string(remote.events[0].Payload) != "v2" {
			t.Fatalf("fired in dc1 %v, in dc2 %v", local.events, remote.events)
		}
		if err := call(s1, MethodEventFire, &pb.EventFireRequest{Dc: "dc9", Event: ev}, &pb.EventFireResponse{}); !errors.Is(err, rpc.ErrNoPathToDC) {
			t.Fatalf("event for an unknown dc: %v", err)
		}
		if err := call(s1, MethodEventFire, &pb.EventFireRequest{Dc: "dc2", Event: &pb.UserEvent{}}, &pb.EventFireResponse{}); !errors.Is(err, rpc.ErrBadRequest) {
			t.Fatalf("event without a name: %v", err)
		}
	})
}

// The leader marks its coordinate entries ignorable, so a server of an
// earlier version skips them instead of stopping.
func TestCoordinateEntriesAreIgnorable(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := startCluster(t, clusterOpts{servers: 1, members: clientMembers("c1")})
		leader := c.waitLeader()
		waitCatalogNodes(t, leader, 2)
		if err := call(leader, MethodCoordinateUpdate, &pb.CoordinateUpdateRequest{Node: "c1", Coord: testCoord(0.1)}, &pb.CoordinateUpdateResponse{}); err != nil {
			t.Fatal(err)
		}
		if err := leader.flushCoordinates(t.Context()); err != nil {
			t.Fatal(err)
		}
		logs := leader.deps.LogStore
		first, _ := logs.FirstIndex()
		last, _ := logs.LastIndex()
		found := 0
		for i := first; i <= last; i++ {
			var l raft.Log
			if err := logs.GetLog(i, &l); err != nil || l.Type != raft.LogCommand {
				continue
			}
			var cmd pb.Command
			if err := proto.Unmarshal(l.Data, &cmd); err != nil {
				t.Fatalf("entry %d: %v", i, err)
			}
			cmds := []*pb.Command{&cmd}
			if b := cmd.GetBatch(); b != nil {
				cmds = b.Commands
			}
			for _, sub := range cmds {
				if sub.GetCoordinateUpdate() != nil {
					found++
					if !sub.IgnoreIfUnknown {
						t.Fatalf("entry %d: a coordinate update not marked ignore_if_unknown", i)
					}
				}
			}
		}
		if found != 1 {
			t.Fatalf("%d coordinate entries in the log, want 1", found)
		}
	})
}
