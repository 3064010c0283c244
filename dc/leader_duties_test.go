package dc

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/meridian-io/meridian/internal/bubble"
	"github.com/meridian-io/meridian/internal/clock"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/store"
)

// createSession creates a TTL session on node through ts and returns its id.
func createSession(t *testing.T, ts *testServer, node string, ttl time.Duration) string {
	t.Helper()
	var resp pb.SessionCreateResponse
	req := &pb.SessionCreateRequest{Session: &pb.Session{Node: node, TtlNanos: int64(ttl)}, DefaultChecks: true}
	if err := call(ts, MethodSessionCreate, req, &resp); err != nil || resp.Id == "" {
		t.Fatalf("create session on %s: %q, %v", ts.name, resp.Id, err)
	}
	return resp.Id
}

// sessionExists reads a session on ts (a linearizable read).
func sessionExists(t *testing.T, ts *testServer, id string) bool {
	t.Helper()
	var resp pb.SessionsResponse
	if err := call(ts, MethodSessionGet, &pb.SessionGetRequest{Id: id}, &resp); err != nil {
		t.Fatalf("get session on %s: %v", ts.name, err)
	}
	return len(resp.Sessions) == 1
}

// waitCatalogNode waits until the leader has made a LAN member a catalog
// node, so sessions can name it.
func waitCatalogNode(t *testing.T, ts *testServer, node string) {
	t.Helper()
	waitFor(t, "node "+node+" in the catalog", func() error {
		if _, n, err := ts.Store().Node(nil, node); err != nil || n == nil {
			return fmt.Errorf("no node %s (%v)", node, err)
		}
		return nil
	})
}

// A TTL session expires at its replicated renewal time plus its TTL, on
// whichever server leads then: a new leader does not give it a full TTL
// after taking over, and a renewal pushes the expiry out.
func TestSessionTTLExpiresAcrossALeaderChange(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		leader := c.waitLeader()
		waitCatalogNode(t, leader, "s1")
		const ttl = 10 * time.Second
		created := time.Now()
		id := createSession(t, c.followers(leader)[0], "s1", ttl)
		renewed := createSession(t, leader, "s1", ttl)

		time.Sleep(5 * time.Second) // bubble time: lets the TTL clock run, no waiting
		var renew pb.SessionsResponse
		if err := call(c.followers(leader)[1], MethodSessionRenew, &pb.SessionRenewRequest{Id: renewed}, &renew); err != nil || len(renew.Sessions) != 1 {
			t.Fatalf("renew: %v, %v", renew.Sessions, err)
		}
		renewedAt := time.Now()

		time.Sleep(time.Second) // bubble time: lets the TTL clock run, no waiting
		c.isolate(leader)
		next := c.waitLeader(c.followers(leader)...)
		if since := time.Since(created); since >= ttl {
			t.Fatalf("the new leader took %s; the test needs it before the TTL", since)
		}
		if !sessionExists(t, next, id) {
			t.Fatal("session gone before its TTL")
		}
		waitFor(t, "the session expires on the new leader", func() error {
			if sessionExists(t, next, id) {
				return errors.New("session still there")
			}
			return nil
		})
		if at := time.Since(created); at < ttl || at > ttl+time.Second {
			t.Fatalf("session expired %s after creation, want %s (+1s)", at, ttl)
		}
		if !sessionExists(t, next, renewed) {
			t.Fatal("the renewed session expired with the other")
		}
		waitFor(t, "the renewed session expires", func() error {
			if sessionExists(t, next, renewed) {
				return errors.New("session still there")
			}
			return nil
		})
		if at := time.Since(renewedAt); at < ttl || at > ttl+time.Second {
			t.Fatalf("renewed session expired %s after its renewal, want %s (+1s)", at, ttl)
		}
		c.heal()
	})
}

// Sessions are refused with a clear error when their input is bad, and
// are destroyed on request.
func TestSessionEndpoints(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 1, nil)
		s := c.waitLeader()
		waitCatalogNode(t, s, "s1")
		for _, bad := range []*pb.Session{
			{},
			{Node: "s1", Behavior: "explode"},
			{Node: "s1", TtlNanos: int64(time.Second)},
			{Node: "s1", LockDelayNanos: int64(time.Hour)},
		} {
			if err := call(s, MethodSessionCreate, &pb.SessionCreateRequest{Session: bad}, &pb.SessionCreateResponse{}); err == nil {
				t.Errorf("session %v accepted", bad)
			}
		}
		if err := call(s, MethodSessionCreate, &pb.SessionCreateRequest{Session: &pb.Session{Node: "nowhere"}}, &pb.SessionCreateResponse{}); err == nil {
			t.Error("session on an unknown node accepted")
		}
		id := createSession(t, s, "s1", 0)
		var list pb.SessionsResponse
		if err := call(s, MethodSessionGet, &pb.SessionGetRequest{Node: "s1"}, &list); err != nil || len(list.Sessions) != 1 {
			t.Fatalf("sessions of s1: %v, %v", list.Sessions, err)
		}
		if err := call(s, MethodSessionDestroy, &pb.SessionDestroyRequest{Id: id}, &pb.WriteResponse{}); err != nil {
			t.Fatal(err)
		}
		if sessionExists(t, s, id) {
			t.Fatal("destroyed session still there")
		}
		if err := call(s, MethodSessionDestroy, &pb.SessionDestroyRequest{}, &pb.WriteResponse{}); err == nil {
			t.Error("destroy without an id accepted")
		}
		if err := call(s, MethodSessionRenew, &pb.SessionRenewRequest{}, &pb.SessionsResponse{}); err == nil {
			t.Error("renew without an id accepted")
		}
		if err := call(s, MethodSessionRenew, &pb.SessionRenewRequest{Id: id}, &pb.SessionsResponse{}); err == nil {
			t.Error("renew of a destroyed session accepted")
		}
	})
}

// serfHealth is a node's serfHealth status in ts's store, "" without one.
func serfHealth(t *testing.T, ts *testServer, node string) string {
	t.Helper()
	_, checks, err := ts.Store().NodeChecks(nil, node)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		if c.CheckId == store.SerfCheckID {
			return c.Status
		}
	}
	return ""
}

// The leader reconciles the LAN pool into the catalog (alive → passing,
// failed → critical, left or reaped → deregistered, nodes registered
// through the API left alone) and into the Raft configuration (a server
// that left is removed).
func TestReconcileMembers(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		leader := c.waitLeader()
		health := func(node, want string) {
			t.Helper()
			waitFor(t, fmt.Sprintf("%s's serfHealth %q", node, want), func() error {
				if got := serfHealth(t, leader, node); got != want {
					return fmt.Errorf("serfHealth %q", got)
				}
				return nil
			})
		}
		for _, s := range c.servers {
			health(s.name, store.HealthPassing)
		}
		var svc pb.ServiceNodesResponse
		if err := call(leader, MethodCatalogServiceNodes, &pb.ServiceNodesRequest{Service: serverServiceName}, &svc); err != nil || len(svc.Instances) != 3 {
			t.Fatalf("consul service on %d nodes (%v), want 3", len(svc.Instances), err)
		}
		ext := &pb.RegisterRequest{Node: &pb.Node{Node: "external", Address: "192.0.2.1"}, Service: &pb.Service{Service: "db", Port: 5432}}
		if err := call(leader, MethodCatalogRegister, ext, &pb.WriteResponse{}); err != nil {
			t.Fatal(err)
		}

		c.members.set(Member{Name: "c1", ID: "c1-id", Datacenter: "dc1", Address: "10.0.1.1", Status: StatusAlive})
		c.members.set(Member{Name: "other-dc", Datacenter: "dc2", Address: "10.9.0.1", Status: StatusAlive})
		health("c1", store.HealthPassing)
		c.members.setStatus("c1", StatusFailed)
		health("c1", store.HealthCritical)
		c.members.setStatus("c1", StatusLeft)
		health("c1", "")
		c.members.set(Member{Name: "c2", Datacenter: "dc1", Address: "10.0.1.2", Status: StatusAlive})
		health("c2", store.HealthPassing)
		c.members.remove("c2") // reaped by gossip
		health("c2", "")
		// A changed address is taken over.
		c.members.set(Member{Name: "c3", Datacenter: "dc1", Address: "10.0.1.3", Status: StatusAlive})
		health("c3", store.HealthPassing)
		c.members.set(Member{Name: "c3", Datacenter: "dc1", Address: "10.0.1.30", Status: StatusAlive})
		waitFor(t, "c3's new address", func() error {
			if _, n, _ := leader.Store().Node(nil, "c3"); n == nil || n.Address != "10.0.1.30" {
				return fmt.Errorf("node %v", n)
			}
			return nil
		})
		for _, n := range []string{"external", "c3"} {
			if _, node, _ := leader.Store().Node(nil, n); node == nil {
				t.Errorf("node %s deregistered", n)
			}
		}
		if _, node, _ := leader.Store().Node(nil, "other-dc"); node != nil {
			t.Error("a member of another datacenter was registered")
		}

		// A server that left is removed from Raft; reconcile runs on
		// membership changes, so the leader acts at once.
		gone := c.followers(leader)[0]
		c.members.setStatus(gone.name, StatusLeft)
		waitFor(t, "the server that left is out of Raft", func() error {
			if n := leader.numVoters(); n != 2 {
				return fmt.Errorf("%d voters", n)
			}
			return nil
		})
		var conf pb.RaftConfigurationResponse
		if err := call(leader, MethodRaftConfiguration, &pb.RaftConfigurationRequest{}, &conf); err != nil || len(conf.Servers) != 2 {
			t.Fatalf("raft configuration %v, %v", conf.Servers, err)
		}
		c.stop(gone)
		// ... and added back when it is alive again.
		c.members.setStatus(gone.name, StatusAlive)
		waitFor(t, "the server is a voter again", func() error {
			if n := leader.numVoters(); n != 3 {
				return fmt.Errorf("%d voters", n)
			}
			return nil
		})
	})
}

// The leader reaps KV tombstones once they are TombstoneTTL old, looking
// every TombstoneGCInterval, on every server (the reap is a Raft entry).
func TestTombstonesAreReapedAfterTheirTTL(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		const ttl, every = time.Minute, 10 * time.Second
		c := newTestCluster(t, 3, func(cfg *Config) { cfg.TombstoneTTL, cfg.TombstoneGCInterval = ttl, every })
		leader := c.waitLeader()
		if err := call(leader, MethodKVApply, kvSet("gone", "x"), &pb.KVApplyResponse{}); err != nil {
			t.Fatal(err)
		}
		del := &pb.KVApplyRequest{Op: &pb.KVOp{Verb: pb.KVVerb_KV_DELETE, Entry: &pb.KVEntry{Key: "gone"}}}
		if err := call(leader, MethodKVApply, del, &pb.KVApplyResponse{}); err != nil {
			t.Fatal(err)
		}
		deleted := time.Now()
		waitFor(t, "a tombstone on every server", func() error {
			for _, ts := range c.servers {
				if n := ts.Store().TombstoneCount(); n != 1 {
					return fmt.Errorf("%s has %d tombstones", ts.name, n)
				}
			}
			return nil
		})
		time.Sleep(ttl / 2) // bubble time: lets the TTL clock run, no waiting
		if n := leader.Store().TombstoneCount(); n != 1 {
			t.Fatalf("tombstone reaped after %s, before its TTL", time.Since(deleted))
		}
		waitFor(t, "tombstones reaped on every server", func() error {
			for _, ts := range c.servers {
				if n := ts.Store().TombstoneCount(); n != 0 {
					return fmt.Errorf("%s has %d tombstones", ts.name, n)
				}
			}
			return nil
		})
		if at := time.Since(deleted); at < ttl || at > ttl+2*every {
			t.Fatalf("reaped %s after the delete, want between %s and %s", at, ttl, ttl+2*every)
		}
	})
}

func TestTombstoneReaperPicksTheNewestOldEnoughIndex(t *testing.T) {
	r := &tombstoneReaper{ttl: time.Minute}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		at   time.Duration
		idx  uint64
		want uint64
	}{
		{0, 5, 0},
		{30 * time.Second, 9, 0},
		{time.Minute, 12, 5},
		{time.Minute + time.Second, 12, 0}, // nothing newer is old enough
		{2 * time.Minute, 20, 12},
		{3 * time.Minute, 20, 20},
		{4 * time.Minute, 20, 0}, // already reaped up to 20
	}
	for _, s := range steps {
		if got := r.due(t0.Add(s.at), s.idx); got != s.want {
			t.Errorf("at %s with index %d: due %d, want %d", s.at, s.idx, got, s.want)
		}
	}
}

// A server leaves Raft before it goes: a follower through the LAN leave
// (the leader removes it), the leader by removing itself.
func TestLeave(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		leader := c.waitLeader()
		f := c.followers(leader)[0]
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := f.Leave(ctx, func() error { c.members.setStatus(f.name, StatusLeft); return nil }); err != nil {
			t.Fatalf("follower leave: %v", err)
		}
		if f.inConfiguration(raftID(f)) && leader.inConfiguration(raftID(f)) {
			t.Fatal("follower still in the configuration after Leave")
		}
		c.stop(f)
		leftLAN := false
		if err := leader.Leave(ctx, func() error { leftLAN = true; return nil }); err != nil || !leftLAN {
			t.Fatalf("leader leave: %v (left LAN: %v)", err, leftLAN)
		}
		rest := c.followers(leader)
		waitFor(t, "the leader is out of the configuration", func() error {
			if rest[0].inConfiguration(raftID(leader)) {
				return errors.New("still in")
			}
			return nil
		})
		// The LAN leave's error is the caller's.
		boom := errors.New("boom")
		if err := rest[0].Leave(ctx, func() error { return boom }); !errors.Is(err, boom) {
			t.Fatalf("leave with a failing LAN leave: %v", err)
		}
	})
}

// The server's timers and the time it writes into commands come from
// Deps.Clock: on a clock.Fake, a TTL session expires when the test moves
// that clock past its TTL, however much (bubble) time Raft has used.
func TestSessionTimersRunOnTheServersClock(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		c := startCluster(t, clusterOpts{servers: 1, clock: fake})
		ts := c.servers[0]
		c.waitLeader()
		waitCatalogNode(t, ts, "s1")
		id := createSession(t, ts, "s1", 10*time.Second)
		time.Sleep(time.Minute) // bubble time: the fake clock stands still
		if !sessionExists(t, ts, id) {
			t.Fatal("session expired on the bubble's clock")
		}
		fake.Advance(10*time.Second - time.Nanosecond)
		if !sessionExists(t, ts, id) {
			t.Fatal("session expired before its TTL on the server's clock")
		}
		fake.Advance(time.Nanosecond)
		if sessionExists(t, ts, id) {
			t.Fatal("session outlived its TTL on the server's clock")
		}
	})
}
