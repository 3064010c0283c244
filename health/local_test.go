package health

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-io/meridian/pb"

	"github.com/meridian-io/meridian/internal/clock"
)

func newTestLocal(t *testing.T, mutate func(*Config)) (*Local, *fakeCatalog, *clock.Fake) {
	t.Helper()
	return newTestLocalDeps(t, mutate, nil)
}

// newTestLocalDeps is newTestLocal with deps adjusted by mutateDeps.
func newTestLocalDeps(t *testing.T, mutate func(*Config), mutateDeps func(*Deps)) (*Local, *fakeCatalog, *clock.Fake) {
	t.Helper()
	cfg := testConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	cat := newFakeCatalog()
	clk := clock.NewFake(testStart)
	deps := Deps{Catalog: cat, Clock: clk, ClusterSize: func() int { return 1 }}
	if mutateDeps != nil {
		mutateDeps(&deps)
	}
	l, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Shutdown() })
	return l, cat, clk
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Config{}, Deps{Catalog: newFakeCatalog()}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("no node name: %v", err)
	}
	if _, err := New(testConfig(), Deps{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("no catalog: %v", err)
	}
	cfg := testConfig()
	cfg.CheckUpdateInterval = -1
	if _, err := New(cfg, Deps{Catalog: newFakeCatalog()}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("negative interval: %v", err)
	}
}

func TestLocalAddService(t *testing.T) {
	l, _, _ := newTestLocal(t, nil)
	svc := &pb.Service{Service: "web", Port: 80}
	defs := []CheckDefinition{{TTL: time.Minute}, {TTL: time.Minute, Status: StatusPassing}}
	if err := l.AddService(svc, defs, SourceRemote, false); err != nil {
		t.Fatal(err)
	}
	got := l.State().Service("web")
	if got == nil || got.Weights.GetPassing() != 1 || got.Weights.GetWarning() != 1 {
		t.Fatalf("service %v", got)
	}
	c1, c2 := l.State().Check("service:web:1"), l.State().Check("service:web:2")
	if c1 == nil || c2 == nil || c1.Name != "Service 'web' check" || c1.Status != StatusCritical || c2.Status != StatusPassing {
		t.Fatalf("checks %v %v", c1, c2)
	}

	// Re-registering keeps the status of existing checks.
	if err := l.UpdateTTL("service:web:1", StatusWarning, "slow"); err != nil {
		t.Fatal(err)
	}
	if err := l.AddService(svc, defs, SourceRemote, false); err != nil {
		t.Fatal(err)
	}
	if c := l.State().Check("service:web:1"); c.Status != StatusWarning || c.Output != "slow" {
		t.Fatalf("status not kept: %v", c)
	}

	// An invalid check rejects the whole registration.
	bad := []CheckDefinition{{TTL: time.Minute}, {HTTP: "http://x"}}
	if err := l.AddService(&pb.Service{Service: "api"}, bad, SourceRemote, false); !errors.Is(err, ErrInvalidCheck) {
		t.Fatalf("invalid check: %v", err)
	}
	if l.State().Service("api") != nil || l.State().Check("service:api:1") != nil {
		t.Fatal("half-applied registration")
	}
	script := []CheckDefinition{{ScriptArgs: []string{"true"}, Interval: time.Second}}
	if err := l.AddService(&pb.Service{Service: "api"}, script, SourceRemote, false); !errors.Is(err, ErrScriptChecksDisabled) {
		t.Fatalf("script check: %v", err)
	}
	if err := l.AddService(&pb.Service{}, nil, SourceRemote, false); !errors.Is(err, ErrMissingServiceName) {
		t.Fatalf("no name: %v", err)
	}

	// replace-existing-checks drops the checks not listed (not maintenance).
	if err := l.EnableServiceMaintenance("web", "upgrade"); err != nil {
		t.Fatal(err)
	}
	one := []CheckDefinition{{ID: "only", Name: "only", TTL: time.Minute}}
	if err := l.AddService(svc, one, SourceRemote, true); err != nil {
		t.Fatal(err)
	}
	checks := l.State().ServiceChecks("web")
	if len(checks) != 2 || checks["only"] == nil || checks[ServiceMaintenanceCheckID("web")] == nil {
		t.Fatalf("checks after replace %v", checks)
	}
	if err := l.UpdateTTL("service:web:1", StatusPassing, ""); !errors.Is(err, ErrUnknownCheck) {
		t.Fatalf("runner of a replaced check: %v", err)
	}
	if err := l.DisableServiceMaintenance("web"); err != nil || l.State().ServiceMaintenance("web") {
		t.Fatalf("disable maintenance: %v", err)
	}
}

func TestLocalChecks(t *testing.T) {
	l, _, _ := newTestLocal(t, func(c *Config) { c.EnableLocalScriptChecks = true })
	if err := l.AddCheck(CheckDefinition{Name: "mem", TTL: time.Minute}, SourceRemote); err != nil {
		t.Fatal(err)
	}
	if l.State().Check("mem") == nil {
		t.Fatal("check ID not defaulted to its name")
	}
	if err := l.AddCheck(CheckDefinition{Name: "x", TTL: time.Minute, ServiceID: "nope"}, SourceRemote); !errors.Is(err, ErrUnknownService) {
		t.Fatalf("unknown service: %v", err)
	}
	if err := l.AddCheck(CheckDefinition{TTL: time.Minute}, SourceRemote); !errors.Is(err, ErrMissingCheckName) {
		t.Fatalf("no name: %v", err)
	}
	script := CheckDefinition{Name: "disk", ScriptArgs: []string{"true"}, Interval: time.Second}
	if err := l.AddCheck(script, SourceRemote); !errors.Is(err, ErrScriptChecksDisabled) {
		t.Fatalf("remote script: %v", err)
	}
	if err := l.AddCheck(script, SourceLocal); err != nil {
		t.Fatalf("local script: %v", err)
	}

	cases := []struct {
		id, status string
		want       error
	}{
		{"mem", StatusPassing, nil},
		{"mem", "up", ErrInvalidStatus},
		{"nope", StatusPassing, ErrUnknownCheck},
		{"disk", StatusPassing, ErrNotTTLCheck},
	}
	for _, tc := range cases {
		if err := l.UpdateTTL(tc.id, tc.status, "note"); !errors.Is(err, tc.want) {
			t.Errorf("UpdateTTL(%s, %s) = %v, want %v", tc.id, tc.status, err, tc.want)
		}
	}
	if c := l.State().Check("mem"); c.Status != StatusPassing || c.Output != "note" {
		t.Fatalf("TTL update not applied: %v", c)
	}
	if err := l.RemoveCheck("mem"); err != nil {
		t.Fatal(err)
	}
	if err := l.RemoveCheck("mem"); !errors.Is(err, ErrUnknownCheck) {
		t.Fatalf("second remove: %v", err)
	}
	l.EnableNodeMaintenance("")
	if !l.State().NodeMaintenance() {
		t.Fatal("no node maintenance")
	}
	l.DisableNodeMaintenance()
	if l.State().NodeMaintenance() {
		t.Fatal("node maintenance stuck")
	}
}

func TestLocalReapsCriticalServices(t *testing.T) {
	reaped := make(chan []string, 4)
	l, cat, clk := newTestLocalDeps(t, func(c *Config) { c.AEInterval = time.Hour },
		func(d *Deps) { d.Reaped = func(ids []string) { reaped <- ids } })
	ttl := CheckDefinition{TTL: time.Hour, Status: StatusPassing, DeregisterCriticalServiceAfter: 10 * time.Second} // raised to 1m
	if err := l.AddService(&pb.Service{Service: "web"}, []CheckDefinition{ttl}, SourceRemote, false); err != nil {
		t.Fatal(err)
	}
	plain := CheckDefinition{TTL: time.Hour}
	if err := l.AddService(&pb.Service{Service: "db"}, []CheckDefinition{plain}, SourceRemote, false); err != nil {
		t.Fatal(err)
	}
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "initial sync", func() bool { return cat.service("web") != nil && l.State().InSync() })
	if err := l.UpdateTTL("service:web", StatusCritical, "down"); err != nil {
		t.Fatal(err)
	}
	// Timers: two TTLs, the next full sync, the reaper (every 30s).
	const timers = 4
	for _, at := range []time.Duration{30 * time.Second, 60 * time.Second} {
		if err := clk.BlockUntil(testCtx(t), timers); err != nil {
			t.Fatal(err)
		}
		clk.Advance(30 * time.Second)
		if err := clk.BlockUntil(testCtx(t), timers); err != nil { // the reaper ran
			t.Fatal(err)
		}
		if l.State().Service("web") == nil {
			t.Fatalf("reaped after %v critical (minimum is 1m)", at)
		}
	}
	clk.Advance(30 * time.Second)
	waitFor(t, "service reaped", func() bool { return l.State().Service("web") == nil })
	select {
	case ids := <-reaped:
		if len(ids) != 1 || ids[0] != "web" {
			t.Fatalf("Reaped told %v, want [web]", ids)
		}
	case <-testCtx(t).Done():
		t.Fatal("Reaped not told of the reaped service")
	}
	if l.State().Check("service:web") != nil {
		t.Fatal("reaped service's check kept")
	}
	if l.State().Service("db") == nil {
		t.Fatal("service without DeregisterCriticalServiceAfter reaped")
	}
	waitFor(t, "catalog deregistered", func() bool { return cat.service("web") == nil && cat.check("service:web") == nil })
	if got := l.Reap(); len(got) != 0 {
		t.Fatalf("reaped again: %v", got)
	}
}

// TestLocalFlappingHTTPCheck runs a real HTTP check whose server alternates
// between 200 and 500: every status change is synced (Consul), and the
// output of a steady check is not.
func TestLocalFlappingHTTPCheck(t *testing.T) {
	var requests atomic.Int32
	var flap atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := requests.Add(1)
		if flap.Load() && n%2 == 0 {
			w.WriteHeader(http.StatusInternalServerError)
		}
		_, _ = w.Write([]byte{byte('a' + n%26)}) // output differs every run
	}))
	defer srv.Close()

	// Fake time runs ahead of the check while this test waits for it, so
	// the output deferral is long enough never to end here.
	l, cat, clk := newTestLocal(t, func(c *Config) { c.CheckUpdateInterval = 24 * time.Hour })
	def := CheckDefinition{HTTP: srv.URL, Interval: 10 * time.Second}
	if err := l.AddService(&pb.Service{Service: "web"}, []CheckDefinition{def}, SourceRemote, false); err != nil {
		t.Fatal(err)
	}
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	// step advances the clock a second at a time until the check has run
	// `run` times: one run per step, as the next run is scheduled only
	// after the request is served.
	step := func(run int32) {
		t.Helper()
		advanceUntil(t, clk, time.Second, func() bool { return requests.Load() >= run })
	}
	step(1)
	waitFor(t, "passing in catalog", func() bool {
		c := cat.check("service:web")
		return c != nil && c.Status == StatusPassing && l.State().InSync()
	})
	steady := cat.registerCount()
	for i := int32(2); i <= 5; i++ {
		step(i)
		waitFor(t, "output applied locally", func() bool { return l.State().Check("service:web").Output != "" })
	}
	if got := cat.registerCount() - steady; got != 0 {
		t.Fatalf("%d registers for output-only changes", got)
	}

	flap.Store(true)
	base := cat.registerCount()
	const runs = 8
	last := requests.Load()
	for i := int32(1); i <= runs; i++ {
		step(last + i)
		want := StatusPassing
		if (last+i)%2 == 0 {
			want = StatusCritical
		}
		waitFor(t, "status synced", func() bool {
			c := cat.check("service:web")
			return c != nil && c.Status == want && l.State().InSync()
		})
	}
	if got := cat.registerCount() - base; got > runs {
		t.Fatalf("%d registers for %d status changes", got, runs)
	}
}
