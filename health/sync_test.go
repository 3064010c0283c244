package health

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/meridian-io/meridian/pb"

	"github.com/meridian-io/meridian/internal/clock"
)

// seedLeaderEntries adds what the server leader owns on the node.
func seedLeaderEntries(cat *fakeCatalog) {
	cat.edit(func(c *fakeCatalog) {
		c.checks[SerfHealthCheckID] = &pb.HealthCheck{Node: "node1", CheckId: SerfHealthCheckID, Name: "Serf Health Status", Status: StatusPassing}
		c.services[ConsulServiceID] = &pb.Service{Node: "node1", Id: ConsulServiceID, Service: "consul", Port: 8300}
	})
}

func TestSyncFullRepairsDriftBothWays(t *testing.T) {
	s, _ := newTestState(t, 0)
	cat := newFakeCatalog()
	seedLeaderEntries(cat)
	ctx := context.Background()
	if err := s.AddService(webService(), ttlCheck("c1", "", StatusPassing)); err != nil {
		t.Fatal(err)
	}
	if err := s.AddCheck(ttlCheck("n1", "", StatusPassing)); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncFull(ctx, cat); err != nil {
		t.Fatal(err)
	}
	if cat.service("web-1") == nil || cat.check("c1") == nil || cat.check("n1") == nil {
		t.Fatal("local entries not registered")
	}
	if n := cat.node; n.GetId() != testConfig().NodeID || n.GetAddress() != "10.0.0.1" || n.GetMeta()["rack"] != "r1" || n.GetTaggedAddresses()["lan"] != "10.0.0.1" {
		t.Fatalf("node %v", n)
	}

	// Drift: the service vanished from the catalog, foreign entries appeared
	// on the node, a check and the node's meta were edited.
	cat.edit(func(c *fakeCatalog) {
		delete(c.services, "web-1")
		delete(c.checks, "c1")
		c.services["rogue"] = &pb.Service{Id: "rogue", Service: "rogue"}
		c.checks["rogue-check"] = &pb.HealthCheck{CheckId: "rogue-check", ServiceId: "rogue", Status: StatusPassing}
		c.checks["stale"] = &pb.HealthCheck{CheckId: "stale", Status: StatusCritical}
		c.checks["n1"].Status = StatusCritical
		c.node.Meta = map[string]string{"rack": "other"}
		c.registers, c.deregisters = nil, nil
	})
	if err := s.SyncFull(ctx, cat); err != nil {
		t.Fatal(err)
	}
	if cat.service("web-1") == nil || cat.check("c1") == nil {
		t.Fatal("deleted service not restored")
	}
	if cat.service("rogue") != nil || cat.check("rogue-check") != nil || cat.check("stale") != nil {
		t.Fatal("foreign entries not removed")
	}
	if cat.check("n1").Status != StatusPassing || cat.node.Meta["rack"] != "r1" {
		t.Fatalf("edits not repaired: %v %v", cat.check("n1"), cat.node)
	}
	if cat.check(SerfHealthCheckID) == nil || cat.service(ConsulServiceID) == nil {
		t.Fatal("leader-owned entries removed")
	}
	var deregs []string
	for _, d := range cat.deregisters {
		deregs = append(deregs, d.ServiceId+"/"+d.CheckId)
	}
	slices.Sort(deregs)
	if !slices.Equal(deregs, []string{"/stale", "rogue/"}) {
		t.Fatalf("deregisters %v", deregs)
	}
	if !s.InSync() {
		t.Fatal("state not in sync")
	}
	if len(s.Services()) != 1 || len(s.Checks()) != 2 {
		t.Fatalf("foreign entries leaked into local state: %v %v", s.Services(), s.Checks())
	}

	// Nothing to do the next time.
	cat.edit(func(c *fakeCatalog) { c.registers, c.deregisters = nil, nil })
	if err := s.SyncFull(ctx, cat); err != nil {
		t.Fatal(err)
	}
	if len(cat.registers)+len(cat.deregisters) != 0 {
		t.Fatalf("writes when in sync: %v %v", cat.registers, cat.deregisters)
	}
}

func TestSyncFullRepairsChangedService(t *testing.T) {
	s, _ := newTestState(t, 0)
	cat := newFakeCatalog()
	ctx := context.Background()
	if err := s.AddService(webService()); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncFull(ctx, cat); err != nil {
		t.Fatal(err)
	}
	cat.edit(func(c *fakeCatalog) { c.services["web-1"].Port = 9999 })
	if err := s.SyncFull(ctx, cat); err != nil {
		t.Fatal(err)
	}
	if p := cat.service("web-1").Port; p != 8080 {
		t.Fatalf("port %d", p)
	}
}

func TestSyncEnableTagOverride(t *testing.T) {
	for _, override := range []bool{true, false} {
		t.Run(map[bool]string{true: "override", false: "no override"}[override], func(t *testing.T) {
			s, _ := newTestState(t, 0)
			cat := newFakeCatalog()
			ctx := context.Background()
			svc := webService()
			svc.EnableTagOverride = override
			if err := s.AddService(svc); err != nil {
				t.Fatal(err)
			}
			if err := s.SyncFull(ctx, cat); err != nil {
				t.Fatal(err)
			}
			cat.edit(func(c *fakeCatalog) { c.services["web-1"].Tags = []string{"primary"} })
			if err := s.SyncFull(ctx, cat); err != nil {
				t.Fatal(err)
			}
			want := []string{"v1"}
			if override {
				want = []string{"primary"}
			}
			if got := cat.service("web-1").Tags; !slices.Equal(got, want) {
				t.Fatalf("catalog tags %v, want %v", got, want)
			}
			if got := s.Service("web-1").Tags; !slices.Equal(got, want) {
				t.Fatalf("local tags %v, want %v", got, want)
			}
		})
	}
}

func TestSyncChangesRemovals(t *testing.T) {
	s, _ := newTestState(t, 0)
	cat := newFakeCatalog()
	ctx := context.Background()
	if err := s.AddService(webService(), ttlCheck("c1", "", StatusPassing)); err != nil {
		t.Fatal(err)
	}
	if err := s.AddCheck(ttlCheck("n1", "", StatusPassing)); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncFull(ctx, cat); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveService("web-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveCheck("n1"); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncChanges(ctx, cat); err != nil {
		t.Fatal(err)
	}
	if cat.service("web-1") != nil || cat.check("c1") != nil || cat.check("n1") != nil {
		t.Fatal("removed entries still in the catalog")
	}
	if len(cat.deregisters) != 2 {
		t.Fatalf("%d deregisters, want 2 (the service takes its check along)", len(cat.deregisters))
	}
	if !s.InSync() {
		t.Fatal("tombstones left")
	}
}

func TestSyncNodeOnly(t *testing.T) {
	s, _ := newTestState(t, 0)
	cat := newFakeCatalog()
	if err := s.SyncFull(context.Background(), cat); err != nil {
		t.Fatal(err)
	}
	if len(cat.registers) != 1 || cat.registers[0].Service != nil || cat.node.GetNode() != "node1" {
		t.Fatalf("registers %v", cat.registers)
	}
}

// TestSyncCoalescesChangesInFlight flips a check's status 100 times while
// its register is in flight: one more register carries the final status.
func TestSyncCoalescesChangesInFlight(t *testing.T) {
	s, _ := newTestState(t, 0)
	cat := newFakeCatalog()
	ctx := context.Background()
	if err := s.AddService(webService(), ttlCheck("c1", "", StatusPassing)); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncFull(ctx, cat); err != nil {
		t.Fatal(err)
	}
	before := cat.registerCount()
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	cat.edit(func(c *fakeCatalog) { c.gate, c.entered = gate, entered })

	s.UpdateCheck("c1", StatusCritical, "flap 0")
	done := make(chan error, 1)
	go func() { done <- s.SyncChanges(ctx, cat) }()
	<-entered
	statuses := []string{StatusPassing, StatusCritical}
	for i := 1; i <= 100; i++ {
		s.UpdateCheck("c1", statuses[i%2], "flap")
	}
	cat.edit(func(c *fakeCatalog) { c.gate = nil })
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s.InSync() {
		t.Fatal("changes made during the register were marked in sync")
	}
	if err := s.SyncChanges(ctx, cat); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncChanges(ctx, cat); err != nil {
		t.Fatal(err)
	}
	if got := cat.registerCount() - before; got != 2 {
		t.Fatalf("%d registers for 101 changes, want 2", got)
	}
	if c := cat.check("c1"); c.Status != statuses[100%2] || !s.InSync() {
		t.Fatalf("catalog %v, in sync %v", c, s.InSync())
	}
}

func TestSyncStopsAtFirstError(t *testing.T) {
	s, _ := newTestState(t, 0)
	cat := newFakeCatalog()
	if err := s.AddService(webService()); err != nil {
		t.Fatal(err)
	}
	cat.failures = 1
	if err := s.SyncChanges(context.Background(), cat); err == nil {
		t.Fatal("no error")
	}
	if s.InSync() || cat.service("web-1") != nil {
		t.Fatal("failed write marked in sync")
	}
	if err := s.SyncChanges(context.Background(), cat); err != nil || cat.service("web-1") == nil {
		t.Fatalf("retry: %v", err)
	}
}

func TestScaleFactor(t *testing.T) {
	cases := map[int]int{0: 1, 1: 1, 128: 1, 129: 2, 256: 2, 257: 3, 512: 3, 513: 4, 1024: 4, 1025: 5, 8192: 7}
	for n, want := range cases {
		if got := ScaleFactor(n); got != want {
			t.Errorf("ScaleFactor(%d) = %d, want %d", n, got, want)
		}
	}
}

// startSyncer runs a Syncer on a fake clock until the test ends.
func startSyncer(t *testing.T, s *State, cat *fakeCatalog, clk *clock.Fake, size int) *Syncer {
	t.Helper()
	cfg := testConfig()
	sy := NewSyncer(cfg, s, cat, func() int { return size }, clk)
	sy.Start()
	t.Cleanup(sy.Shutdown)
	return sy
}

func TestSyncerFullSyncPeriodically(t *testing.T) {
	s, clk := newTestState(t, 0)
	cat := newFakeCatalog()
	if err := s.AddService(webService()); err != nil {
		t.Fatal(err)
	}
	sy := startSyncer(t, s, cat, clk, 3)
	waitFor(t, "initial full sync", func() bool { return cat.service("web-1") != nil })
	if err := clk.BlockUntil(testCtx(t), 1); err != nil { // the next full sync
		t.Fatal(err)
	}
	if sy.Status().LastFullSync.IsZero() {
		t.Fatal("no full sync recorded")
	}
	cat.edit(func(c *fakeCatalog) { delete(c.services, "web-1") })
	clk.Advance(DefaultAEInterval - time.Nanosecond)
	if clk.Pending() != 1 {
		t.Fatal("full sync ran before AEInterval")
	}
	clk.Advance(DefaultAEInterval) // interval + stagger < 2 intervals
	waitFor(t, "service restored", func() bool { return cat.service("web-1") != nil })
}

func TestSyncerScalesWithClusterSize(t *testing.T) {
	cases := []struct {
		nodes int
		max   time.Duration // interval + the largest stagger
	}{
		{3, 2 * DefaultAEInterval},
		{1000, 5 * DefaultAEInterval}, // scale factor 4
	}
	for _, tc := range cases {
		s, clk := newTestState(t, 0)
		cat := newFakeCatalog()
		sy := NewSyncer(testConfig(), s, cat, func() int { return tc.nodes }, clk)
		sy.random = func(d time.Duration) time.Duration { return d - 1 }
		sy.Start()
		waitFor(t, "initial full sync", func() bool { return cat.registerCount() == 1 })
		if err := clk.BlockUntil(testCtx(t), 1); err != nil {
			t.Fatal(err)
		}
		cat.edit(func(c *fakeCatalog) { c.node = nil })
		clk.Advance(tc.max - 2)
		if clk.Pending() != 1 {
			t.Fatalf("%d nodes: full sync before %v", tc.nodes, tc.max-1)
		}
		clk.Advance(1)
		waitFor(t, "second full sync", func() bool { return cat.registerCount() == 2 })
		sy.Shutdown()
	}
}

func TestSyncerPartialSyncOnChange(t *testing.T) {
	s, clk := newTestState(t, 0)
	cat := newFakeCatalog()
	startSyncer(t, s, cat, clk, 1)
	waitFor(t, "initial full sync", func() bool { return cat.registerCount() == 1 })
	if err := s.AddService(&pb.Service{Id: "api", Service: "api"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "api registered", func() bool { return cat.service("api") != nil })
	if err := s.RemoveService("api"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "api deregistered", func() bool { return cat.service("api") == nil })
}

func TestSyncerRetriesAfterFailure(t *testing.T) {
	s, clk := newTestState(t, 0)
	cat := newFakeCatalog()
	cat.failures = 1
	if err := s.AddService(webService()); err != nil {
		t.Fatal(err)
	}
	sy := startSyncer(t, s, cat, clk, 1)
	if err := clk.BlockUntil(testCtx(t), 1); err != nil { // the retry timer
		t.Fatal(err)
	}
	waitFor(t, "error recorded", func() bool { return sy.Status().LastError != "" })
	clk.Advance(DefaultAERetryInterval - time.Nanosecond)
	if clk.Pending() != 1 || cat.registerCount() != 0 {
		t.Fatal("retried before AERetryInterval")
	}
	clk.Advance(DefaultAERetryInterval)
	waitFor(t, "retried sync", func() bool { return cat.service("web-1") != nil })
	waitFor(t, "error cleared", func() bool { return sy.Status().LastError == "" })
}

func TestSyncerTriggerFullSync(t *testing.T) {
	s, clk := newTestState(t, 0)
	cat := newFakeCatalog()
	if err := s.AddService(webService()); err != nil {
		t.Fatal(err)
	}
	sy := startSyncer(t, s, cat, clk, 1)
	waitFor(t, "initial full sync", func() bool { return cat.service("web-1") != nil })
	if err := clk.BlockUntil(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	cat.edit(func(c *fakeCatalog) { delete(c.services, "web-1") })
	sy.TriggerFullSync()
	if err := clk.BlockUntil(testCtx(t), 2); err != nil { // + the server-up stagger
		t.Fatal(err)
	}
	clk.Advance(DefaultAEServerUpInterval)
	waitFor(t, "service restored", func() bool { return cat.service("web-1") != nil })
}

// TestSyncerFlappingCheckBounded flips a check 50 times while the first
// partial sync's register is held: the servers see at most two registers.
func TestSyncerFlappingCheckBounded(t *testing.T) {
	s, clk := newTestState(t, 0)
	cat := newFakeCatalog()
	if err := s.AddService(webService(), ttlCheck("c1", "", StatusPassing)); err != nil {
		t.Fatal(err)
	}
	startSyncer(t, s, cat, clk, 1)
	waitFor(t, "initial full sync", func() bool { return s.InSync() })
	before := cat.registerCount()
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	cat.edit(func(c *fakeCatalog) { c.gate, c.entered = gate, entered })

	s.UpdateCheck("c1", StatusCritical, "flap")
	<-entered
	final := ""
	for i := range 50 {
		final = []string{StatusPassing, StatusCritical}[i%2]
		s.UpdateCheck("c1", final, "flap")
	}
	cat.edit(func(c *fakeCatalog) { c.gate = nil })
	close(gate)
	waitFor(t, "final status in the catalog", func() bool {
		c := cat.check("c1")
		return c != nil && c.Status == final && s.InSync()
	})
	if got := cat.registerCount() - before; got > 2 {
		t.Fatalf("%d registers for 51 status changes, want <= 2", got)
	}
}

func TestSyncerPause(t *testing.T) {
	s, clk := newTestState(t, 0)
	sy := NewSyncer(testConfig(), s, newFakeCatalog(), nil, clk)
	sy.Pause()
	sy.Pause()
	sy.Resume()
	if !sy.Paused() {
		t.Fatal("one Resume undid two Pauses")
	}
	drain(s)
	sy.Resume()
	if sy.Paused() || !drain(s) {
		t.Fatal("last Resume did not unpause and trigger a sync")
	}
	sy.Resume() // extra Resume is harmless
	sy.Shutdown()
}

// TestSyncFullToleratesCatalogDefaults: a catalog that drops default
// weights or fills an empty check definition is not "different".
func TestSyncFullToleratesCatalogDefaults(t *testing.T) {
	s, _ := newTestState(t, 0)
	cat := newFakeCatalog()
	ctx := context.Background()
	if err := s.AddService(webService(), ttlCheck("c1", "", StatusPassing)); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncFull(ctx, cat); err != nil {
		t.Fatal(err)
	}
	cat.edit(func(c *fakeCatalog) {
		c.services["web-1"].Weights = nil
		c.checks["c1"].Definition = &pb.CheckDefinition{}
		c.checks["c1"].ServiceTags = []string{"derived"}
		c.checks["c1"].CreateIndex, c.checks["c1"].ModifyIndex = 7, 9
		c.registers = nil
	})
	if err := s.SyncFull(ctx, cat); err != nil {
		t.Fatal(err)
	}
	if len(cat.registers) != 0 {
		t.Fatalf("re-registered %v", cat.registers)
	}
}
