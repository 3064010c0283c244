package lan

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLifecycleErrors(t *testing.T) {
	checkLeaks(t)
	n := newNode(t, "n1", nil)
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
	if err := p.ForceLeave("nobody", false); !errors.Is(err, ErrUnknownMember) {
		t.Errorf("ForceLeave(unknown): %v", err)
	}
	events, cancel := p.Subscribe()
	defer cancel()

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
	if err := p.UserEvent("x", nil, false); !errors.Is(err, ErrShutdown) {
		t.Errorf("UserEvent after Shutdown: %v", err)
	}
	if !drainedAndClosed(events) {
		t.Error("Shutdown left a subscription open")
	}
}

func TestStartHonoursCancelledContext(t *testing.T) {
	checkLeaks(t)
	n := newNode(t, "n1", nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := n.pool.Start(ctx); err == nil {
		t.Fatal("Start with a cancelled context succeeded")
	}
}

func TestJoinMembersTagsAndServers(t *testing.T) {
	checkLeaks(t)
	rpc1, rpc2 := 18300, 18310
	s1 := startNode(t, "s1", func(c *Config) { asServer(rpc1)(c); c.BootstrapExpect = 2 })
	s2 := startNode(t, "s2", func(c *Config) { asServer(rpc2)(c); c.BootstrapExpect = 2 })
	c1 := startNode(t, "c1", nil)
	events, cancel := s1.pool.Subscribe()
	defer cancel()

	if n, err := s2.pool.Join([]string{s1.addr()}); err != nil || n != 1 {
		t.Fatalf("s2 join: %d, %v", n, err)
	}
	if n, err := c1.pool.Join([]string{s1.addr(), s2.addr()}); err != nil || n != 2 {
		t.Fatalf("c1 join: %d, %v", n, err)
	}
	nodes := []*testNode{s1, s2, c1}
	for _, n := range nodes {
		waitFor(t, n.cfg.NodeName+" sees 3 alive", func() bool { return aliveCount(n.pool) == 3 })
	}
	// s1 hears of s2 and c1 in either order (c1 joins s1 directly while
	// s2's join may still be settling), so wait for both at once.
	joined := map[string]bool{}
	waitEvent(t, events, "joins of s2 and c1", func(ev Event) bool {
		for _, name := range []string{"s2", "c1"} {
			if memberEvent(EventJoin, name)(ev) {
				joined[name] = true
			}
		}
		return joined["s2"] && joined["c1"]
	})

	wantTags := map[string]map[string]string{
		"s1": {TagRole: TagRoleServer, TagDatacenter: "dc1", TagPort: strconv.Itoa(rpc1), TagID: s1.cfg.NodeID, TagExpect: "2", TagBuild: "0.1.0", TagVersion: "2"},
		"s2": {TagRole: TagRoleServer, TagDatacenter: "dc1", TagPort: strconv.Itoa(rpc2), TagID: s2.cfg.NodeID, TagExpect: "2", TagBuild: "0.1.0", TagVersion: "2"},
		"c1": {TagRole: TagRoleClient, TagDatacenter: "dc1", TagID: c1.cfg.NodeID, TagBuild: "0.1.0", TagVersion: "2"},
	}
	ports := map[string]int{"s1": s1.cfg.BindPort, "s2": s2.cfg.BindPort, "c1": c1.cfg.BindPort}
	for _, n := range nodes {
		for _, m := range n.pool.Members() {
			if m.Status != StatusAlive || m.StatusCode != 1 || m.Addr.String() != "127.0.0.1" || int(m.Port) != ports[m.Name] {
				t.Errorf("%s sees %s as %s/%d at %s:%d", n.cfg.NodeName, m.Name, m.Status, m.StatusCode, m.Addr, m.Port)
			}
			if m.ProtocolCur == 0 || m.DelegateCur == 0 || m.ProtocolMax < m.ProtocolMin {
				t.Errorf("%s: protocol versions of %s: %+v", n.cfg.NodeName, m.Name, m)
			}
			for k, v := range wantTags[m.Name] {
				if m.Tags[k] != v {
					t.Errorf("%s sees tag %s=%q on %s, want %q", n.cfg.NodeName, k, m.Tags[k], m.Name, v)
				}
			}
			if _, ok := m.Tags[TagPort]; ok && m.Name == "c1" {
				t.Errorf("client c1 advertises an RPC port")
			}
		}
		if got := n.pool.NumMembers(); got != 3 {
			t.Errorf("%s NumMembers = %d", n.cfg.NodeName, got)
		}
		if got := n.pool.Stats()["members"]; got != "3" {
			t.Errorf("%s Stats members = %q", n.cfg.NodeName, got)
		}
		if lm := n.pool.LocalMember(); lm.Name != n.cfg.NodeName || lm.Status != StatusAlive {
			t.Errorf("LocalMember = %+v", lm)
		}

		servers := n.pool.Servers()
		slices.SortFunc(servers, func(a, b Server) int { return cmpString(a.Name, b.Name) })
		want := []Server{
			{Name: "s1", ID: s1.cfg.NodeID, Addr: fmt.Sprintf("127.0.0.1:%d", rpc1), Datacenter: "dc1", BootstrapExpect: 2, Build: "0.1.0", Status: StatusAlive},
			{Name: "s2", ID: s2.cfg.NodeID, Addr: fmt.Sprintf("127.0.0.1:%d", rpc2), Datacenter: "dc1", BootstrapExpect: 2, Build: "0.1.0", Status: StatusAlive},
		}
		if !slices.Equal(servers, want) {
			t.Errorf("%s Servers = %+v, want %+v", n.cfg.NodeName, servers, want)
		}
	}
}

func TestFailureLeaveAndForceLeave(t *testing.T) {
	checkLeaks(t)
	a := startNode(t, "a", nil)
	b := startNode(t, "b", nil)
	c := startNode(t, "c", nil)
	events, cancel := a.pool.Subscribe()
	defer cancel()
	for _, n := range []*testNode{b, c} {
		if _, err := n.pool.Join([]string{a.addr()}); err != nil {
			t.Fatalf("%s join: %v", n.cfg.NodeName, err)
		}
	}
	waitFor(t, "3 alive on a", func() bool { return aliveCount(a.pool) == 3 })
	waitFor(t, "3 alive on c", func() bool { return aliveCount(c.pool) == 3 })

	// b vanishes without a word: the others detect a failure.
	if err := b.pool.Shutdown(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b failed on a", func() bool { return memberStatus(a.pool, "b") == StatusFailed })
	waitFor(t, "b failed on c", func() bool { return memberStatus(c.pool, "b") == StatusFailed })
	waitEvent(t, events, "failed b", memberEvent(EventFailed, "b"))

	// The operator removes it: failed becomes left everywhere.
	if err := a.pool.ForceLeave("b", false); err != nil {
		t.Fatalf("ForceLeave: %v", err)
	}
	waitFor(t, "b left on c", func() bool { return memberStatus(c.pool, "b") == StatusLeft })

	// c leaves gracefully: it is left, not failed.
	if err := c.pool.Leave(); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	waitFor(t, "c left on a", func() bool { return memberStatus(a.pool, "c") == StatusLeft })
	waitEvent(t, events, "leave of c", memberEvent(EventLeave, "c"))
	if err := c.pool.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if got := memberStatus(a.pool, "c"); got != StatusLeft {
		t.Errorf("c after shutdown = %s, want left", got)
	}
}

func TestRefusesOtherDatacenter(t *testing.T) {
	checkLeaks(t)
	a := startNode(t, "a", nil)
	b := startNode(t, "b", func(c *Config) { c.Datacenter = "dc2" })
	if _, err := b.pool.Join([]string{a.addr()}); !mentions(err, ErrWrongDatacenter) {
		t.Fatalf("dc2 agent joining a dc1 pool: %v", err)
	}
	if _, err := a.pool.Join([]string{b.addr()}); !mentions(err, ErrWrongDatacenter) {
		t.Fatalf("dc1 agent joining a dc2 pool: %v", err)
	}
	for _, n := range []*testNode{a, b} {
		if got := n.pool.NumMembers(); got != 1 {
			t.Errorf("%s knows %d members, want only itself", n.cfg.NodeName, got)
		}
	}
	waitFor(t, "refusal logged", func() bool { return a.logs.contains("another datacenter") })
}

func TestRefusesDuplicateNodeID(t *testing.T) {
	checkLeaks(t)
	a := startNode(t, "a", nil)
	b := startNode(t, "b", func(c *Config) { c.NodeID = "shared-id" })
	if _, err := b.pool.Join([]string{a.addr()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b alive on a", func() bool { return memberStatus(a.pool, "b") == StatusAlive })
	// a's merge delegate knows IDs from its event pump, a moment after
	// serf lists the member: a duplicate arriving in that moment gets in.
	waitFor(t, "b's ID known to a's merge delegate", func() bool {
		owner, ok := a.pool.ids.owner("shared-id")
		return ok && owner == "b"
	})

	dup := startNode(t, "dup", func(c *Config) { c.NodeID = "shared-id" })
	if _, err := dup.pool.Join([]string{a.addr()}); !mentions(err, ErrDuplicateNodeID) {
		t.Fatalf("agent with b's node ID joining: %v", err)
	}
	me := startNode(t, "me-too", func(c *Config) { c.NodeID = a.cfg.NodeID })
	if _, err := me.pool.Join([]string{a.addr()}); !mentions(err, ErrDuplicateNodeID) {
		t.Fatalf("agent with a's node ID joining: %v", err)
	}
	if got := a.pool.NumMembers(); got != 2 {
		t.Errorf("a knows %d members, want 2: %+v", got, a.pool.Members())
	}
}

func TestRetryJoinSucceedsOnceTargetStarts(t *testing.T) {
	checkLeaks(t)
	a := startNode(t, "a", nil)
	b := newNode(t, "b", nil) // built, port chosen, not listening yet
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
	waitFor(t, "2 alive on b", func() bool { return aliveCount(b.pool) == 2 })
}

func TestRetryJoinGivesUp(t *testing.T) {
	checkLeaks(t)
	a := startNode(t, "a", nil)
	dead := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	err := <-a.pool.RetryJoin([]string{dead}, time.Millisecond, 3)
	if !errors.Is(err, ErrRetryJoinExhausted) {
		t.Fatalf("RetryJoin = %v, want ErrRetryJoinExhausted", err)
	}
	if err := <-a.pool.RetryJoin([]string{"bad:addr"}, time.Millisecond, 3); !errors.Is(err, ErrBadAddress) {
		t.Fatalf("RetryJoin(bad) = %v, want ErrBadAddress", err)
	}
}

func TestRetryJoinStopsOnShutdown(t *testing.T) {
	checkLeaks(t)
	a := startNode(t, "a", nil)
	dead := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	result := a.pool.RetryJoin([]string{dead}, time.Hour, 0)
	waitFor(t, "first failed attempt", func() bool { return a.logs.contains("retry join failed") })
	if err := a.pool.Shutdown(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-result:
		if !errors.Is(err, ErrShutdown) {
			t.Fatalf("RetryJoin = %v, want ErrShutdown", err)
		}
	default:
		t.Fatal("Shutdown returned before the retry goroutine reported")
	}
	if err := <-a.pool.RetryJoin([]string{dead}, time.Hour, 0); !errors.Is(err, ErrShutdown) {
		t.Fatalf("RetryJoin after Shutdown = %v", err)
	}
}

func TestUserEvent(t *testing.T) {
	checkLeaks(t)
	a := startNode(t, "a", nil)
	b := startNode(t, "b", nil)
	events, cancel := b.pool.Subscribe()
	defer cancel()
	if _, err := b.pool.Join([]string{a.addr()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "2 alive on a", func() bool { return aliveCount(a.pool) == 2 })
	if err := a.pool.UserEvent("deploy", []byte("v2"), false); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, events, "user event", func(ev Event) bool { return ev.Kind == EventUser })
	if ev.Name != "deploy" || string(ev.Payload) != "v2" || ev.LTime == 0 {
		t.Errorf("user event = %+v", ev)
	}
}

func TestEncryptedPool(t *testing.T) {
	checkLeaks(t)
	key := []byte("0123456789abcdef")
	withKey := func(k []byte) func(*Config) { return func(c *Config) { c.EncryptKey = k } }
	a := startNode(t, "a", withKey(key))
	b := startNode(t, "b", withKey(key))
	if _, err := b.pool.Join([]string{a.addr()}); err != nil {
		t.Fatalf("join with the same key: %v", err)
	}
	waitFor(t, "2 alive on a", func() bool { return aliveCount(a.pool) == 2 })
	if got := a.pool.Stats()["encrypted"]; got != "true" {
		t.Errorf("Stats encrypted = %q", got)
	}
	c := startNode(t, "c", withKey([]byte("fedcba9876543210")))
	if _, err := c.pool.Join([]string{a.addr()}); err == nil {
		t.Fatal("joined with the wrong key")
	}
	d := startNode(t, "d", nil)
	if _, err := d.pool.Join([]string{a.addr()}); err == nil {
		t.Fatal("joined an encrypted pool in clear")
	}
}

func TestSnapshotRejoinsAfterRestart(t *testing.T) {
	checkLeaks(t)
	a := startNode(t, "a", nil)
	snap := t.TempDir() + "/serf.snapshot"
	withSnap := func(c *Config) { c.SnapshotPath = snap }
	b := startNode(t, "b", withSnap)
	if _, err := b.pool.Join([]string{a.addr()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "2 alive on a", func() bool { return aliveCount(a.pool) == 2 })
	if err := b.pool.Shutdown(); err != nil { // crash: no leave
		t.Fatal(err)
	}

	// Restart b with the same identity and snapshot, and no join.
	restarted := newNode(t, "b", func(c *Config) {
		logger := c.Logger
		*c = b.cfg
		c.Logger = logger
	})
	if err := restarted.pool.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "restarted b sees a", func() bool { return memberStatus(restarted.pool, "a") == StatusAlive })
	waitFor(t, "a sees b alive again", func() bool { return memberStatus(a.pool, "b") == StatusAlive })
}

func TestBindPortZero(t *testing.T) {
	checkLeaks(t)
	a := startNode(t, "a", func(c *Config) { c.BindPort = 0 })
	port := a.pool.LocalMember().Port
	if port == 0 {
		t.Fatal("no port chosen")
	}
	b := startNode(t, "b", nil)
	if _, err := b.pool.Join([]string{fmt.Sprintf("127.0.0.1:%d", port)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "2 alive on a", func() bool { return aliveCount(a.pool) == 2 })
}

// mentions reports whether err's text carries reason: memberlist passes the
// merge delegate's refusal back as text, without its identity.
func mentions(err, reason error) bool {
	return err != nil && strings.Contains(err.Error(), reason.Error())
}
