package wan

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestLifecycleErrors(t *testing.T) {
	checkLeaks(t)
	n := newNode(t, "s1", "dc1", nil)
	p := n.pool
	if _, err := p.Join([]string{"127.0.0.1:1"}); !errors.Is(err, ErrNotStarted) {
		t.Errorf("Join before Start: %v", err)
	}
	if err := p.Leave(); !errors.Is(err, ErrNotStarted) {
		t.Errorf("Leave before Start: %v", err)
	}
	if err := <-p.RetryJoin([]string{"127.0.0.1:1"}, time.Millisecond, 1); !errors.Is(err, ErrNotStarted) {
		t.Errorf("RetryJoin before Start: %v", err)
	}
	if p.Members() != nil || p.NumMembers() != 0 || p.LocalMember().Name != "" || len(p.Stats()) != 0 {
		t.Error("membership reported before Start")
	}
	if got := p.Router().Datacenters(); !slices.Equal(got, []string{"dc1"}) {
		t.Errorf("router before Start lists %v", got)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := p.Start(ctx); err == nil {
		t.Fatal("Start with a cancelled context succeeded")
	}
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(t.Context()); !errors.Is(err, ErrAlreadyStarted) {
		t.Errorf("second Start: %v", err)
	}
	if _, err := p.Join(nil); !errors.Is(err, ErrNoAddresses) {
		t.Errorf("Join(nil): %v", err)
	}
	if _, err := p.Join([]string{"bad:port"}); !errors.Is(err, ErrBadAddress) {
		t.Errorf("Join(bad): %v", err)
	}
	if err := p.ForceLeave("nobody.dc1", false); !errors.Is(err, ErrUnknownMember) {
		t.Errorf("ForceLeave(unknown): %v", err)
	}
	if _, err := p.ListKeys(); !errors.Is(err, ErrNotEncrypted) {
		t.Errorf("ListKeys in clear: %v", err)
	}
	if err := p.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := p.Shutdown(); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if err := p.Start(t.Context()); !errors.Is(err, ErrShutdown) {
		t.Errorf("Start after Shutdown: %v", err)
	}
	if _, err := p.Join([]string{"127.0.0.1"}); !errors.Is(err, ErrShutdown) {
		t.Errorf("Join after Shutdown: %v", err)
	}
	if err := <-p.RetryJoin([]string{"127.0.0.1"}, time.Hour, 0); !errors.Is(err, ErrShutdown) {
		t.Errorf("RetryJoin after Shutdown: %v", err)
	}
}

// federation starts servers s1, s2 of dc1 and s1, s3 of dc2 (the same node
// name s1 in both) and joins them all through dc1's s1.
func federation(t *testing.T, edit func(*Config)) (s1dc1, s2dc1, s1dc2, s3dc2 *testNode) {
	t.Helper()
	s1dc1 = startNode(t, "s1", "dc1", edit)
	s2dc1 = startNode(t, "s2", "dc1", edit)
	s1dc2 = startNode(t, "s1", "dc2", edit)
	s3dc2 = startNode(t, "s3", "dc2", edit)
	for _, n := range []*testNode{s2dc1, s1dc2, s3dc2} {
		if k, err := n.pool.Join([]string{s1dc1.addr()}); err != nil || k != 1 {
			t.Fatalf("%s join: %d, %v", n.name(), k, err)
		}
	}
	for _, n := range []*testNode{s1dc1, s2dc1, s1dc2, s3dc2} {
		waitFor(t, n.name()+" sees 4 alive", func() bool { return aliveCount(n.pool) == 4 })
	}
	return s1dc1, s2dc1, s1dc2, s3dc2
}

func TestTwoDatacentersShareOnePool(t *testing.T) {
	checkLeaks(t)
	s1dc1, s2dc1, s1dc2, s3dc2 := federation(t, nil)
	nodes := []*testNode{s1dc1, s2dc1, s1dc2, s3dc2}
	byName := map[string]*testNode{}
	for _, n := range nodes {
		byName[n.name()] = n
	}
	if len(byName) != 4 {
		t.Fatalf("member names collide: %v", byName)
	}

	for _, n := range nodes {
		for _, m := range n.pool.Members() {
			peer := byName[m.Name]
			if peer == nil {
				t.Fatalf("%s sees unknown member %q", n.name(), m.Name)
			}
			if m.Status != StatusAlive || m.StatusCode != 1 || m.Addr.String() != "127.0.0.1" || int(m.Port) != peer.cfg.BindPort {
				t.Errorf("%s sees %s as %s/%d at %s:%d", n.name(), m.Name, m.Status, m.StatusCode, m.Addr, m.Port)
			}
			if m.ProtocolCur == 0 || m.DelegateCur == 0 || m.ProtocolMax < m.ProtocolMin {
				t.Errorf("%s: protocol versions of %s: %+v", n.name(), m.Name, m)
			}
			want := map[string]string{
				TagRole: TagRoleServer, TagDatacenter: peer.cfg.Datacenter, TagPort: strconv.Itoa(peer.cfg.RPCPort),
				TagID: peer.cfg.NodeID, TagBuild: "0.1.0", TagVersion: "2", TagVersionMin: "2", TagVersionMax: "3", TagRaftVersion: "3",
			}
			for k, v := range want {
				if m.Tags[k] != v {
					t.Errorf("%s sees tag %s=%q on %s, want %q", n.name(), k, m.Tags[k], m.Name, v)
				}
			}
		}
		if lm := n.pool.LocalMember(); lm.Name != n.name() || lm.Status != StatusAlive {
			t.Errorf("LocalMember = %+v", lm)
		}
		if got := n.pool.Stats()["members"]; got != "4" {
			t.Errorf("%s Stats members = %q", n.name(), got)
		}
	}

	// Every router learns both datacenters, its own first.
	for _, n := range nodes {
		other := map[string]string{"dc1": "dc2", "dc2": "dc1"}[n.cfg.Datacenter]
		waitFor(t, n.name()+" routes both datacenters", func() bool {
			return routes(n.pool, "dc1", "s1.dc1", "s2.dc1") && routes(n.pool, "dc2", "s1.dc2", "s3.dc2")
		})
		if got := n.pool.Router().Datacenters(); !slices.Equal(got, []string{n.cfg.Datacenter, other}) {
			t.Errorf("%s Datacenters = %v", n.name(), got)
		}
	}
	servers, err := s1dc1.pool.Router().ServersFor("dc2")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		peer := byName[s.Name]
		if s.Addr != peer.rpcAddr() || s.Datacenter != "dc2" || s.Node != peer.cfg.NodeName || s.ID != peer.cfg.NodeID || s.Build != "0.1.0" {
			t.Errorf("dc2 server as dc1 routes it: %+v", s)
		}
	}
	if _, err := s1dc1.pool.Router().ServersFor("dc3"); !errors.Is(err, ErrNoPathToDC) {
		t.Errorf("ServersFor(dc3) = %v", err)
	}

	// Gossip probes give coordinates: RTTs reach the router.
	waitFor(t, "an RTT to a dc2 server", func() bool {
		servers, err := s1dc1.pool.Router().ServersFor("dc2")
		return err == nil && servers[0].HasRTT
	})
	if _, ok := s1dc1.pool.Coordinate(s1dc1.name()); !ok {
		t.Error("no local coordinate")
	}
	dcs := s1dc1.pool.DatacenterCoordinates()
	if len(dcs) != 2 || dcs[0].Datacenter != "dc1" || dcs[1].Datacenter != "dc2" {
		t.Fatalf("DatacenterCoordinates = %+v", dcs)
	}
	if c := dcs[0].Coordinates; len(c) == 0 || c[0].Node != "s1.dc1" || c[0].Coord == nil {
		t.Errorf("dc1 coordinates = %+v", c)
	}
	for _, c := range dcs[1].Coordinates {
		if c.Node != "s1.dc2" && c.Node != "s3.dc2" {
			t.Errorf("dc2 coordinates name %q", c.Node)
		}
	}
}

func TestFailedDatacenterLeavesRoutingAndComesBack(t *testing.T) {
	checkLeaks(t)
	a := startNode(t, "a", "dc1", nil)
	b := startNode(t, "b", "dc2", nil)
	if _, err := b.pool.Join([]string{a.addr()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a routes dc2", func() bool { return routes(a.pool, "dc2", "b.dc2") })

	// b crashes: no leave.
	if err := b.pool.Shutdown(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	waitFor(t, "dc2 unroutable on a", func() bool {
		_, err := a.pool.Router().ServersFor("dc2")
		return errors.Is(err, ErrNoServers)
	})
	t.Logf("all servers of dc2 failed -> dc2 unroutable: %v", time.Since(down).Round(time.Millisecond))
	if got := a.pool.Router().Datacenters(); !slices.Equal(got, []string{"dc1", "dc2"}) {
		t.Errorf("a failed datacenter is no longer listed: %v", got)
	}

	// b restarts on the same address and rejoins: no operator action on a.
	b2 := restart(t, b)
	up := time.Now()
	if _, err := b2.pool.Join([]string{a.addr()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a routes dc2 again", func() bool { return routes(a.pool, "dc2", "b.dc2") })
	t.Logf("dc2 server back -> dc2 routable: %v", time.Since(up).Round(time.Millisecond))
}

func TestLeaveAndForceLeaveForgetDatacenter(t *testing.T) {
	checkLeaks(t)
	a := startNode(t, "a", "dc1", nil)
	b := startNode(t, "b", "dc2", nil)
	c := startNode(t, "c", "dc3", nil)
	for _, n := range []*testNode{b, c} {
		if _, err := n.pool.Join([]string{a.addr()}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "a routes dc2 and dc3", func() bool { return routes(a.pool, "dc2", "b.dc2") && routes(a.pool, "dc3", "c.dc3") })

	// b leaves gracefully: dc2 is forgotten at once.
	if err := b.pool.Leave(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "dc2 forgotten", func() bool {
		_, err := a.pool.Router().ServersFor("dc2")
		return errors.Is(err, ErrNoPathToDC) && slices.Equal(a.pool.Router().Datacenters(), []string{"dc1", "dc3"})
	})
	if got := memberStatus(a.pool, "b.dc2"); got != StatusLeft {
		t.Errorf("b after leave = %q", got)
	}

	// c crashes; the operator force-leaves it with prune (any case).
	if err := c.pool.Shutdown(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "c failed on a", func() bool { return memberStatus(a.pool, "c.dc3") == StatusFailed })
	if err := a.pool.ForceLeave("C.DC3", true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "c pruned", func() bool { return memberStatus(a.pool, "c.dc3") == "" })
	waitFor(t, "dc3 forgotten", func() bool {
		_, err := a.pool.Router().ServersFor("dc3")
		return errors.Is(err, ErrNoPathToDC)
	})
}

func TestRefusesMembersThatAreNotWANServers(t *testing.T) {
	checkLeaks(t)
	a := startNode(t, "a", "dc1", nil)
	server := func(dc string) map[string]string {
		return map[string]string{TagRole: TagRoleServer, TagDatacenter: dc, TagPort: "8300", TagID: "x"}
	}
	cases := []struct {
		name string
		tags map[string]string
		why  error
	}{
		{"lanagent", map[string]string{TagRole: "node", TagDatacenter: "dc1"}, ErrBadMemberName},
		{"nosuffix", server("dc1"), ErrBadMemberName},
		{"wrong.dc2", server("dc1"), ErrBadMemberName},
		{"client.dc1", map[string]string{TagRole: "node", TagDatacenter: "dc1", TagID: "y"}, ErrNotServer},
		{"noport.dc1", map[string]string{TagRole: TagRoleServer, TagDatacenter: "dc1"}, ErrNotServer},
	}
	for _, tc := range cases {
		s, addr := rawSerf(t, tc.name, tc.tags)
		// The pool refuses to merge it when joining it...
		if _, err := a.pool.Join([]string{addr}); !mentions(err, tc.why) {
			t.Errorf("joining %s: %v, want %v", tc.name, err, tc.why)
		}
		// ...and when it joins the pool. Memberlist cannot tell the joiner
		// (the answer is sent before the merge), so the refusal shows in
		// the pool's log and membership only.
		if _, err := s.Join([]string{a.addr()}, true); err != nil {
			t.Fatalf("%s joining: %v", tc.name, err)
		}
		waitFor(t, "refusal of "+tc.name+" logged", func() bool {
			return a.logs.contains(fmt.Sprintf("ignoring alive message for '%s': %s", tc.name, tc.why))
		})
	}
	if got := a.pool.NumMembers(); got != 1 {
		t.Errorf("a knows %d members, want only itself: %+v", got, a.pool.Members())
	}
	if got := a.pool.Router().Datacenters(); !slices.Equal(got, []string{"dc1"}) {
		t.Errorf("router learned %v", got)
	}
}

func TestEncryption(t *testing.T) {
	checkLeaks(t)
	key := []byte("0123456789abcdef")
	withKey := func(k []byte) func(*Config) { return func(c *Config) { c.EncryptKey = k } }
	a := startNode(t, "a", "dc1", withKey(key))
	b := startNode(t, "b", "dc2", withKey(key))
	if _, err := b.pool.Join([]string{a.addr()}); err != nil {
		t.Fatalf("join with the same key: %v", err)
	}
	waitFor(t, "2 alive on a", func() bool { return aliveCount(a.pool) == 2 })
	if got := a.pool.Stats()["encrypted"]; got != "true" {
		t.Errorf("Stats encrypted = %q", got)
	}
	c := startNode(t, "c", "dc3", withKey([]byte("fedcba9876543210")))
	if _, err := c.pool.Join([]string{a.addr()}); err == nil {
		t.Fatal("joined with the wrong key")
	}
	d := startNode(t, "d", "dc3", nil)
	if _, err := d.pool.Join([]string{a.addr()}); err == nil {
		t.Fatal("joined an encrypted pool in clear")
	}
	if _, err := a.pool.Router().ServersFor("dc3"); !errors.Is(err, ErrNoPathToDC) {
		t.Errorf("dc3 reached a's router: %v", err)
	}

	// The keyring is serf's: every server reports the one key.
	keys, err := a.pool.ListKeys()
	if err != nil {
		t.Fatal(err)
	}
	if keys.NumNodes != 2 || keys.NumResp != 2 || len(keys.Keys) != 1 {
		t.Errorf("ListKeys = %+v", keys)
	}

	// Rotate: install a new key everywhere, make it primary, drop the old.
	oldKey := base64.StdEncoding.EncodeToString(key)
	newKey := base64.StdEncoding.EncodeToString([]byte("a new 16-byte ke"))
	if _, err := a.pool.InstallKey(newKey); err != nil {
		t.Fatalf("InstallKey: %v", err)
	}
	if _, err := b.pool.UseKey(newKey); err != nil {
		t.Fatalf("UseKey: %v", err)
	}
	if _, err := a.pool.RemoveKey(oldKey); err != nil {
		t.Fatalf("RemoveKey: %v", err)
	}
	keys, err = b.pool.ListKeys()
	if err != nil {
		t.Fatal(err)
	}
	if keys.Keys[newKey] != 2 || keys.PrimaryKeys[newKey] != 2 || len(keys.Keys) != 1 {
		t.Errorf("after rotation ListKeys = %+v", keys)
	}
	if _, err := a.pool.RemoveKey(newKey); err == nil {
		t.Error("removed the primary key")
	}
	if _, err := a.pool.InstallKey("not base64!"); err == nil {
		t.Error("installed a malformed key")
	}
	// The old key no longer opens the pool.
	e := startNode(t, "e", "dc3", withKey(key))
	if _, err := e.pool.Join([]string{a.addr()}); err == nil {
		t.Fatal("joined with the retired key")
	}
}

func TestSnapshotRejoinsAfterRestart(t *testing.T) {
	checkLeaks(t)
	a := startNode(t, "a", "dc1", nil)
	snap := t.TempDir() + "/remote.snapshot"
	b := startNode(t, "b", "dc2", func(c *Config) { c.SnapshotPath = snap })
	if _, err := b.pool.Join([]string{a.addr()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "2 alive on a", func() bool { return aliveCount(a.pool) == 2 })
	if err := b.pool.Shutdown(); err != nil { // crash: no leave
		t.Fatal(err)
	}
	restarted := restart(t, b) // no join: the snapshot knows a
	waitFor(t, "restarted b routes dc1", func() bool { return routes(restarted.pool, "dc1", "a.dc1") })
	waitFor(t, "a sees b alive again", func() bool { return memberStatus(a.pool, "b.dc2") == StatusAlive })
}

func TestRetryJoin(t *testing.T) {
	checkLeaks(t)
	a := startNode(t, "a", "dc1", nil)
	b := newNode(t, "b", "dc2", nil) // port chosen, not listening yet
	result := a.pool.RetryJoin([]string{b.addr()}, 20*time.Millisecond, 0)
	waitFor(t, "a failed attempt", func() bool { return a.logs.contains("retry join failed") })
	select {
	case err := <-result:
		t.Fatalf("RetryJoin finished before the target started: %v", err)
	default:
	}
	if err := b.pool.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-result:
		if err != nil {
			t.Fatalf("RetryJoin: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("RetryJoin did not succeed")
	}
	waitFor(t, "b routes dc1", func() bool { return routes(b.pool, "dc1", "a.dc1") })

	dead := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	if err := <-a.pool.RetryJoin([]string{dead}, time.Millisecond, 3); !errors.Is(err, ErrRetryJoinExhausted) {
		t.Fatalf("RetryJoin(dead) = %v, want ErrRetryJoinExhausted", err)
	}
	if err := <-a.pool.RetryJoin([]string{"bad:addr"}, time.Millisecond, 3); !errors.Is(err, ErrBadAddress) {
		t.Fatalf("RetryJoin(bad) = %v, want ErrBadAddress", err)
	}
	pending := a.pool.RetryJoin([]string{dead}, time.Hour, 0)
	waitFor(t, "a second failed attempt", func() bool { return a.logs.contains("retry_in=1h0m0s") })
	if err := a.pool.Shutdown(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-pending:
		if !errors.Is(err, ErrShutdown) {
			t.Fatalf("RetryJoin at Shutdown = %v, want ErrShutdown", err)
		}
	default:
		t.Fatal("Shutdown returned before the retry goroutine reported")
	}
}

func TestBindPortZeroAndAdvertise(t *testing.T) {
	checkLeaks(t)
	a := startNode(t, "a", "dc1", func(c *Config) { c.BindPort = 0 })
	port := a.pool.LocalMember().Port
	if port == 0 {
		t.Fatal("no port chosen")
	}
	advPort := freePort(t) // advertised, never bound: what others are told
	b := startNode(t, "b", "dc2", func(c *Config) { c.AdvertiseAddr = "127.0.0.1"; c.AdvertisePort = advPort })
	if _, err := b.pool.Join([]string{fmt.Sprintf("127.0.0.1:%d", port)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a knows b", func() bool { return memberStatus(a.pool, "b.dc2") != "" })
	for _, m := range a.pool.Members() {
		if m.Name == "b.dc2" && int(m.Port) != advPort {
			t.Errorf("b advertised port %d, want %d", m.Port, advPort)
		}
	}
}

func TestFailureMarkExpiresOnThePoolsClock(t *testing.T) {
	checkLeaks(t)
	fast := func(c *Config) { c.RouterTick, c.FailureHold = 20*time.Millisecond, 100*time.Millisecond }
	a := startNode(t, "a", "dc1", fast)
	b := startNode(t, "b", "dc2", fast)
	if _, err := b.pool.Join([]string{a.addr()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a routes dc2", func() bool { return routes(a.pool, "dc2", "b.dc2") })

	// An RPC to b failed: dc2 has nothing to try until the mark expires,
	// though gossip still sees b alive.
	if err := a.pool.Router().MarkFailed("b.dc2"); err != nil {
		t.Fatal(err)
	}
	marked := time.Now()
	if _, err := a.pool.Router().ServersFor("dc2"); !errors.Is(err, ErrNoServers) {
		t.Fatalf("ServersFor(dc2) right after MarkFailed = %v", err)
	}
	waitFor(t, "the mark to expire", func() bool { return routes(a.pool, "dc2", "b.dc2") })
	if held := time.Since(marked); held < 80*time.Millisecond {
		t.Errorf("a 100ms mark lasted %v", held)
	}
}
