package health

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/meridian-io/meridian/internal/clock"
	"github.com/meridian-io/meridian/pb"
)

// aliasResult is one status an alias check reported.
type aliasResult struct{ status, output string }

func aliasNotifier() (Notifier, <-chan aliasResult) {
	ch := make(chan aliasResult, 16)
	return NotifierFunc(func(_, status, output string) { ch <- aliasResult{status, output} }), ch
}

func nextAlias(t *testing.T, ch <-chan aliasResult, want aliasResult) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("alias reported %+v, want %+v", got, want)
		}
	case <-testCtx(t).Done():
		t.Fatalf("alias reported nothing, want %+v", want)
	}
}

// TestAliasLocal: an alias of a local service follows its checks and the
// node's as they change, at once.
func TestAliasLocal(t *testing.T) {
	clk := clock.NewFake(testStart)
	state := NewState(testConfig(), clk)
	t.Cleanup(state.Close)
	if err := state.AddService(&pb.Service{Id: "db", Service: "db"},
		&pb.HealthCheck{CheckId: "db-ttl", Name: "db ttl", Status: StatusCritical, Output: "down"}); err != nil {
		t.Fatal(err)
	}
	// A check of another service does not count.
	if err := state.AddService(&pb.Service{Id: "other", Service: "other"},
		&pb.HealthCheck{CheckId: "other-ttl", Name: "other", Status: StatusCritical}); err != nil {
		t.Fatal(err)
	}
	notify, got := aliasNotifier()
	spec := &CheckSpec{CheckDefinition: CheckDefinition{AliasService: "db"}, Type: TypeAlias}
	r := newAliasRunner("web-alias", spec, aliasSources{state: state, node: "node1"}, clk, notify, slog.New(slog.DiscardHandler))
	r.start()
	t.Cleanup(r.stop)

	nextAlias(t, got, aliasResult{StatusCritical, `Aliased check "db ttl" failing: down`})
	state.UpdateCheck("db-ttl", StatusPassing, "ok")
	nextAlias(t, got, aliasResult{StatusPassing, "All checks passing."})
	if err := state.AddCheck(&pb.HealthCheck{CheckId: "mem", Name: "mem", Status: StatusWarning, Output: "90%"}); err != nil {
		t.Fatal(err)
	}
	nextAlias(t, got, aliasResult{StatusWarning, `Aliased check "mem" failing: 90%`})
	if err := state.RemoveCheck("mem"); err != nil {
		t.Fatal(err)
	}
	nextAlias(t, got, aliasResult{StatusPassing, "All checks passing."})
	if err := state.RemoveService("db"); err != nil {
		t.Fatal(err)
	}
	nextAlias(t, got, aliasResult{StatusCritical, `Aliased service "db" is not registered on this node`})
}

// aliasCatalog is a catalog of one other node, for remote aliases.
type aliasCatalog struct {
	fakeCatalog
	mu       sync.Mutex
	services []*pb.Service
	checks   []*pb.HealthCheck
	down     bool
	nodes    []string
}

func (c *aliasCatalog) set(down bool, services []*pb.Service, checks ...*pb.HealthCheck) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down, c.services, c.checks = down, services, checks
}

func (c *aliasCatalog) NodeServices(_ context.Context, node string) (*pb.NodeServicesResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodes = append(c.nodes, node)
	if c.down {
		return nil, errCatalogDown
	}
	return &pb.NodeServicesResponse{Node: &pb.Node{Node: node}, Services: c.services}, nil
}

func (c *aliasCatalog) NodeChecks(_ context.Context, node string) ([]*pb.HealthCheck, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return nil, errCatalogDown
	}
	return c.checks, nil
}

// TestAliasRemote: an alias of a service on another node reads the catalog
// every interval; a failed read leaves the status as it was.
func TestAliasRemote(t *testing.T) {
	clk := clock.NewFake(testStart)
	state := NewState(testConfig(), clk)
	t.Cleanup(state.Close)
	cat := &aliasCatalog{}
	db := []*pb.Service{{Id: "db", Service: "db"}}
	cat.set(false, db, &pb.HealthCheck{CheckId: "db", Name: "db", ServiceId: "db", Status: StatusCritical, Output: "refused"})
	notify, got := aliasNotifier()
	spec := &CheckSpec{CheckDefinition: CheckDefinition{AliasNode: "node2", AliasService: "db", Interval: 10 * time.Second}, Type: TypeAlias}
	r := newAliasRunner("web-alias", spec, aliasSources{state: state, node: "node1", catalog: cat}, clk, notify, slog.New(slog.DiscardHandler))
	r.start()
	t.Cleanup(r.stop)
	nextAlias(t, got, aliasResult{StatusCritical, `Aliased check "db" failing: refused`})

	advance := func() {
		t.Helper()
		if err := clk.BlockUntil(testCtx(t), 1); err != nil {
			t.Fatal(err)
		}
		clk.Advance(10 * time.Second)
	}
	cat.set(true, nil)
	advance() // the read fails: nothing reported
	cat.set(false, db, &pb.HealthCheck{CheckId: "db", Name: "db", ServiceId: "db", Status: StatusPassing},
		&pb.HealthCheck{CheckId: "serfHealth", Name: "Serf Health Status", Status: StatusPassing})
	advance()
	nextAlias(t, got, aliasResult{StatusPassing, "All checks passing."})
	cat.set(false, nil)
	advance()
	nextAlias(t, got, aliasResult{StatusCritical, `Aliased service "db" is not registered on node "node2"`})
	cat.mu.Lock()
	defer cat.mu.Unlock()
	for _, n := range cat.nodes {
		if n != "node2" {
			t.Fatalf("read node %q, want node2", n)
		}
	}
}
