package health

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/meridian-io/meridian/pb"

	"github.com/meridian-io/meridian/internal/clock"
)

func newTestState(t *testing.T, checkUpdateInterval time.Duration) (*State, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(testStart)
	cfg := testConfig()
	cfg.CheckUpdateInterval = checkUpdateInterval
	s := NewState(cfg, clk)
	t.Cleanup(s.Close)
	return s, clk
}

func webService() *pb.Service {
	return &pb.Service{Id: "web-1", Service: "web", Tags: []string{"v1"}, Port: 8080, Weights: &pb.Weights{Passing: 1, Warning: 1}}
}

func ttlCheck(id, serviceID, status string) *pb.HealthCheck {
	return &pb.HealthCheck{CheckId: id, Name: id, ServiceId: serviceID, Status: status, Type: TypeTTL}
}

// drain empties the sync notification channel and reports whether it held
// a value.
func drain(s *State) bool {
	select {
	case <-s.SyncNotify():
		return true
	default:
		return false
	}
}

func TestStateServicesAndChecks(t *testing.T) {
	s, _ := newTestState(t, 0)
	changed := s.Changed()
	if err := s.AddService(webService(), ttlCheck("c1", "", StatusCritical)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Fatal("Changed not closed by AddService")
	}
	if !drain(s) {
		t.Fatal("no sync notification")
	}
	got := s.Service("web-1")
	if got == nil || got.Node != "node1" || got.Port != 8080 {
		t.Fatalf("service %v", got)
	}
	got.Port = 1 // a copy
	if s.Service("web-1").Port != 8080 {
		t.Fatal("Service returned shared state")
	}
	c := s.Check("c1")
	if c.ServiceId != "web-1" || c.ServiceName != "web" || c.Node != "node1" || c.ServiceTags[0] != "v1" {
		t.Fatalf("check %v", c)
	}
	if err := s.AddCheck(ttlCheck("node-check", "", StatusPassing)); err != nil {
		t.Fatal(err)
	}
	if err := s.AddCheck(ttlCheck("orphan", "nope", StatusPassing)); !errors.Is(err, ErrUnknownService) {
		t.Fatalf("check of unknown service: %v", err)
	}
	if n := len(s.Checks()); n != 2 {
		t.Fatalf("%d checks", n)
	}
	if n := len(s.ServiceChecks("")); n != 1 {
		t.Fatalf("%d node checks", n)
	}

	if err := s.RemoveService("web-1"); err != nil {
		t.Fatal(err)
	}
	if s.Service("web-1") != nil || s.Check("c1") != nil || len(s.Services()) != 0 {
		t.Fatal("service or its check still listed")
	}
	if err := s.RemoveService("web-1"); !errors.Is(err, ErrUnknownService) {
		t.Fatalf("second remove: %v", err)
	}
	if err := s.RemoveCheck("c1"); !errors.Is(err, ErrUnknownCheck) {
		t.Fatalf("remove of a removed check: %v", err)
	}
	if err := s.RemoveCheck("node-check"); err != nil {
		t.Fatal(err)
	}
}

func TestStateCriticalFor(t *testing.T) {
	s, clk := newTestState(t, 0)
	if err := s.AddService(webService(), ttlCheck("c1", "", StatusPassing)); err != nil {
		t.Fatal(err)
	}
	if len(s.CriticalFor()) != 0 {
		t.Fatal("passing check counted critical")
	}
	s.UpdateCheck("c1", StatusCritical, "down")
	clk.Advance(time.Minute)
	s.UpdateCheck("c1", StatusCritical, "still down") // does not restart the count
	clk.Advance(time.Minute)
	if d := s.CriticalFor()["c1"]; d != 2*time.Minute {
		t.Fatalf("critical for %v", d)
	}
	s.UpdateCheck("c1", StatusWarning, "")
	if len(s.CriticalFor()) != 0 {
		t.Fatal("warning check counted critical")
	}
}

func TestStateStatusChangeSyncsAtOnce(t *testing.T) {
	s, _ := newTestState(t, 5*time.Minute)
	cat := newFakeCatalog()
	ctx := context.Background()
	if err := s.AddService(webService(), ttlCheck("c1", "", StatusCritical)); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncFull(ctx, cat); err != nil {
		t.Fatal(err)
	}
	if !s.InSync() {
		t.Fatal("not in sync after a full sync")
	}
	drain(s)
	n := cat.registerCount()
	s.UpdateCheck("c1", StatusPassing, "ok")
	if !drain(s) || s.InSync() {
		t.Fatal("status change not marked for sync")
	}
	if err := s.SyncChanges(ctx, cat); err != nil {
		t.Fatal(err)
	}
	if cat.registerCount() != n+1 || cat.check("c1").Status != StatusPassing || cat.check("c1").Output != "ok" {
		t.Fatalf("registers %d->%d, catalog %v", n, cat.registerCount(), cat.check("c1"))
	}
}

func TestStateOutputOnlyChangesDeferred(t *testing.T) {
	const interval = 5 * time.Minute
	s, clk := newTestState(t, interval)
	cat := newFakeCatalog()
	ctx := context.Background()
	if err := s.AddService(webService(), ttlCheck("c1", "", StatusPassing)); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncFull(ctx, cat); err != nil {
		t.Fatal(err)
	}
	drain(s)
	n := cat.registerCount()

	changed := s.Changed()
	for i := range 10 {
		s.UpdateCheck("c1", StatusPassing, "load "+string(rune('0'+i)))
	}
	select {
	case <-changed:
	default:
		t.Fatal("local readers not told of the new output")
	}
	if s.Check("c1").Output != "load 9" {
		t.Fatalf("local output %q", s.Check("c1").Output)
	}
	if drain(s) {
		t.Fatal("output-only change triggered a sync")
	}
	// Neither partial nor full syncs push it before the deferral ends.
	if err := s.SyncChanges(ctx, cat); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncFull(ctx, cat); err != nil {
		t.Fatal(err)
	}
	clk.Advance(interval/2 - time.Nanosecond)
	if err := s.SyncChanges(ctx, cat); err != nil {
		t.Fatal(err)
	}
	if cat.registerCount() != n || cat.check("c1").Output != "" {
		t.Fatalf("output synced early: %d registers, %q", cat.registerCount()-n, cat.check("c1").Output)
	}
	// The deferral ends within 1.5 intervals; then one register carries
	// the latest output.
	clk.Advance(interval)
	if !drain(s) {
		t.Fatal("deferred sync not triggered")
	}
	if err := s.SyncChanges(ctx, cat); err != nil {
		t.Fatal(err)
	}
	if cat.registerCount() != n+1 || cat.check("c1").Output != "load 9" {
		t.Fatalf("%d registers, catalog output %q", cat.registerCount()-n, cat.check("c1").Output)
	}
	if clk.Pending() != 0 {
		t.Fatal("deferral timer left")
	}
}

func TestStateNoDeferralWhenIntervalZero(t *testing.T) {
	s, clk := newTestState(t, 0)
	if err := s.AddService(webService(), ttlCheck("c1", "", StatusPassing)); err != nil {
		t.Fatal(err)
	}
	cat := newFakeCatalog()
	if err := s.SyncFull(context.Background(), cat); err != nil {
		t.Fatal(err)
	}
	drain(s)
	s.UpdateCheck("c1", StatusPassing, "new output")
	if !drain(s) || clk.Pending() != 0 {
		t.Fatal("output change deferred with CheckUpdateInterval 0")
	}
}

func TestStateUpdateUnknownCheckIgnored(t *testing.T) {
	s, _ := newTestState(t, 0)
	drain(s)
	s.UpdateCheck("unknown", StatusPassing, "")
	if drain(s) || len(s.Checks()) != 0 {
		t.Fatal("update of an unknown check had an effect")
	}
}

func TestMaintenance(t *testing.T) {
	s, _ := newTestState(t, 0)
	if err := s.AddService(webService()); err != nil {
		t.Fatal(err)
	}
	s.EnableNodeMaintenance("")
	c := s.Check(NodeMaintenanceCheckID)
	if c == nil || c.Status != StatusCritical || c.Notes != defaultNodeMaintReason || c.Name != "Node Maintenance Mode" || c.ServiceId != "" {
		t.Fatalf("node maintenance check %v", c)
	}
	s.EnableNodeMaintenance("second call keeps the first reason")
	if s.Check(NodeMaintenanceCheckID).Notes != defaultNodeMaintReason || !s.NodeMaintenance() {
		t.Fatal("enable twice changed the check")
	}
	s.DisableNodeMaintenance()
	if s.NodeMaintenance() {
		t.Fatal("node still in maintenance")
	}

	if err := s.EnableServiceMaintenance("web-1", "deploying"); err != nil {
		t.Fatal(err)
	}
	c = s.Check("_service_maintenance:web-1")
	if c == nil || c.Status != StatusCritical || c.Notes != "deploying" || c.ServiceId != "web-1" || c.ServiceName != "web" {
		t.Fatalf("service maintenance check %v", c)
	}
	if !s.ServiceMaintenance("web-1") {
		t.Fatal("ServiceMaintenance false")
	}
	if err := s.EnableServiceMaintenance("nope", ""); !errors.Is(err, ErrUnknownService) {
		t.Fatalf("unknown service: %v", err)
	}
	if err := s.DisableServiceMaintenance("web-1"); err != nil || s.ServiceMaintenance("web-1") {
		t.Fatalf("disable: %v", err)
	}
	if err := s.DisableServiceMaintenance("nope"); !errors.Is(err, ErrUnknownService) {
		t.Fatalf("disable unknown: %v", err)
	}
}
